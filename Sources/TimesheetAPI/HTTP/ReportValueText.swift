import NIOCore
import TimesheetDomain

/// A report's values written as text straight into a `ByteBuffer`, byte for byte what their `description` is, without
/// building a `String` for each: a large report writes hundreds of thousands of them (tests check they agree).
enum ReportValueText {
    /// `YYYY-MM-DD`, as ``CalendarDay/description``.
    static func write(_ day: CalendarDay, to buffer: inout ByteBuffer) {
        guard (0...9999).contains(day.year) else {
            buffer.writeString(day.description)
            return
        }
        writeDigits(day.year, count: 4, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "-"))
        writeDigits(day.month, count: 2, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "-"))
        writeDigits(day.day, count: 2, to: &buffer)
    }

    /// `2019-W23`, as ``ISOWeek/description``.
    static func write(_ week: ISOWeek, to buffer: inout ByteBuffer) {
        let (year, number) = week.start.isoWeek
        write(year, to: &buffer)
        buffer.writeStaticString("-W")
        writeDigits(number, count: 2, to: &buffer)
    }

    /// `7.5`, `8`, `0.05`, as ``Hours/description``.
    static func write(_ hours: Hours, to buffer: inout ByteBuffer) {
        guard hours.hundredths >= 0 else {
            buffer.writeString(hours.description)
            return
        }
        write(hours.hundredths / 100, to: &buffer)
        let fraction = hours.hundredths % 100
        if fraction == 0 { return }
        buffer.writeInteger(UInt8(ascii: "."))
        if fraction % 10 == 0 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: 48 + fraction / 10))
        } else {
            writeDigits(fraction, count: 2, to: &buffer)
        }
    }

    /// An integer in decimal, as `String(number)`.
    static func write(_ number: Int, to buffer: inout ByteBuffer) {
        guard number >= 0 else {
            buffer.writeString(String(number))
            return
        }
        var digits = 1
        var rest = number / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        writeDigits(number, count: digits, to: &buffer)
    }

    /// The last `count` decimal digits of a number that is not negative, zero-padded on the left.
    private static func writeDigits(_ number: Int, count: Int, to buffer: inout ByteBuffer) {
        var value = number
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            for position in stride(from: count - 1, through: 0, by: -1) {
                bytes[position] = UInt8(truncatingIfNeeded: 48 + value % 10)
                value /= 10
            }
            return count
        }
    }
}
