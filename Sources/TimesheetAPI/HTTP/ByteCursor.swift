import Foundation
import NIOCore
import TimesheetDomain

/// Writes text forward into memory its caller has already reserved, with no capacity check per byte.
///
/// Why: a `ByteBuffer` write checks capacity and uniqueness and takes an exclusive access on every call, and an entry
/// of a page is about fifty writes; on `GET /timesheets` those checks were most of the JSON writer's cost (perf). A
/// caller reserves an upper bound once (``ByteBuffer/writeWithCursor(reserving:_:)``) and writes through a cursor.
/// Each method's bound is documented next to it; a write past the reservation is a programming error and traps.
struct ByteCursor {
    private let bytes: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }

    /// At most `text.utf8CodeUnitCount` bytes.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { utf8 in copy(UnsafeRawBufferPointer(utf8)) }
    }

    /// One byte.
    mutating func byte(_ value: UInt8) {
        precondition(count < bytes.count, "ByteCursor: write past the reserved bytes")
        bytes[count] = value
        count += 1
    }

    /// At most `text.utf8.count` bytes, unescaped.
    mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            precondition(count + utf8.count <= bytes.count, "ByteCursor: write past the reserved bytes")
            UnsafeMutableRawBufferPointer(rebasing: bytes[count...]).copyMemory(from: UnsafeRawBufferPointer(utf8))
            count += utf8.count
        }
    }

    /// The last `width` decimal digits of a number that is not negative, zero-padded on the left: `width` bytes.
    mutating func digits(_ number: some BinaryInteger, width: Int) {
        precondition(count + width <= bytes.count, "ByteCursor: write past the reserved bytes")
        var value = number
        for position in stride(from: count + width - 1, through: count, by: -1) {
            bytes[position] = UInt8(truncatingIfNeeded: 48 + value % 10)
            value /= 10
        }
        count += width
    }

    /// An integer in decimal, as `String(number)`: at most 20 bytes.
    mutating func decimal(_ number: Int64) {
        if number < 0 {
            guard number != .min else { return raw(String(number)) }
            byte(UInt8(ascii: "-"))
        }
        let magnitude = number.magnitude
        var width = 1
        var rest = magnitude / 10
        while rest > 0 {
            width += 1
            rest /= 10
        }
        digits(magnitude, width: width)
    }

    /// `YYYY-MM-DD`, as ``CalendarDay/description``: at most 24 bytes.
    mutating func day(_ day: CalendarDay) {
        guard (0...9999).contains(day.year) else { return raw(day.description) }
        digits(day.year, width: 4)
        byte(UInt8(ascii: "-"))
        digits(day.month, width: 2)
        byte(UInt8(ascii: "-"))
        digits(day.day, width: 2)
    }

    /// `7.5`, `8`, `0.05`, as ``Hours/description`` and as `JSONEncoder` writes ``Hours/value``: at most 24 bytes.
    mutating func hours(_ hours: Hours) {
        guard hours.hundredths >= 0 else { return raw(hours.description) }
        decimal(Int64(hours.hundredths / 100))
        let fraction = hours.hundredths % 100
        if fraction == 0 { return }
        byte(UInt8(ascii: "."))
        if fraction % 10 == 0 {
            digits(fraction / 10, width: 1)
        } else {
            digits(fraction, width: 2)
        }
    }

    /// `2017-05-10T17:40:20.095Z`, as ``ISO8601Timestamp``: at most 40 bytes.
    mutating func timestamp(_ date: Date) {
        // Whole seconds and fraction split from the reference date (2001), as Foundation splits them, so the same
        // binary rounding gives the same millisecond.
        let reference = date.timeIntervalSinceReferenceDate
        let whole = reference.rounded(.down)
        guard whole.magnitude < 1e15 else { return raw(ISO8601Timestamp.foundationString(date)) }
        let millis = min(999, Int64(((reference - whole) * 1000).rounded(.down)))
        let (days, secondOfDay) = Self.floorDivide(Int64(whole) + 978_307_200, 86_400)
        let calendarDay = CalendarDay(daysSinceEpoch: Int(days))
        guard (0...9999).contains(calendarDay.year) else { return raw(ISO8601Timestamp.foundationString(date)) }
        day(calendarDay)
        byte(UInt8(ascii: "T"))
        digits(secondOfDay / 3_600, width: 2)
        byte(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, width: 2)
        byte(UInt8(ascii: ":"))
        digits(secondOfDay % 60, width: 2)
        byte(UInt8(ascii: "."))
        digits(millis, width: 3)
        byte(UInt8(ascii: "Z"))
    }

    /// A JSON string escaped as `JSONEncoder` escapes it (`"`, `\`, and control characters; `/` and non-ASCII as is),
    /// quotes included: at most ``jsonStringBound(_:)`` bytes.
    mutating func jsonString(_ text: String) {
        byte(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let value = utf8[index]
                guard value < 0x20 || value == UInt8(ascii: "\"") || value == UInt8(ascii: "\\") else { continue }
                copy(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start..<index]))
                switch value {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    byte(Self.hexDigits[Int(value >> 4)])
                    byte(Self.hexDigits[Int(value & 0x0F)])
                }
                start = index + 1
            }
            copy(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start...]))
        }
        byte(UInt8(ascii: "\""))
    }

    /// The most bytes ``jsonString(_:)`` writes for `text`: every byte escaped as `\u00XX`, and the quotes.
    static func jsonStringBound(_ text: String) -> Int { text.utf8.count * 6 + 2 }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func copy(_ source: UnsafeRawBufferPointer) {
        guard !source.isEmpty else { return }
        precondition(count + source.count <= bytes.count, "ByteCursor: write past the reserved bytes")
        UnsafeMutableRawBufferPointer(rebasing: bytes[count...]).copyMemory(from: source)
        count += source.count
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = a >= 0 ? a / b : (a - b + 1) / b
        return (quotient, a - quotient * b)
    }
}

extension ByteBuffer {
    /// Reserves `bound` bytes, lets `write` fill some of them through a ``ByteCursor``, and keeps what it wrote.
    mutating func writeWithCursor(reserving bound: Int, _ write: (inout ByteCursor) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { bytes in
            var cursor = ByteCursor(UnsafeMutableRawBufferPointer(rebasing: bytes[..<bound]))
            write(&cursor)
            return cursor.count
        }
    }
}
