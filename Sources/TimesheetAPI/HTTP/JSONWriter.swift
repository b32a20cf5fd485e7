import Foundation
import NIOCore
import TimesheetDomain

/// A response body the API writes itself, byte for byte what `JSONEncoder.api` makes of it (sorted keys, slashes
/// unescaped, timestamps with milliseconds), without Foundation's boxing of every value: entry pages are the most
/// frequent bodies, and `JSONEncoder` spent about a quarter of the server's CPU on `GET /timesheets`
/// (scripts/bench, perf). A test checks the two agree.
protocol JSONWritable: Encodable {
    func writeJSON(to writer: inout JSONWriter)
}

/// Appends JSON values to a `ByteBuffer`.
struct JSONWriter {
    var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func raw(_ text: StaticString) {
        buffer.writeStaticString(text)
    }

    mutating func value(_ number: Int64) {
        buffer.writeString(String(number))
    }

    mutating func value(_ flag: Bool) {
        buffer.writeStaticString(flag ? "true" : "false")
    }

    /// As `JSONEncoder` writes a `Double`: its shortest round-trip form, without a trailing `.0`.
    mutating func value(_ number: Double) {
        let text = number.description
        buffer.writeString(text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    }

    mutating func value(_ date: Date) {
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeString(ISO8601Timestamp.string(date))
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    mutating func value(_ date: Date?) {
        if let date { value(date) } else { raw("null") }
    }

    mutating func value(_ text: String?) {
        if let text { value(text) } else { raw("null") }
    }

    /// A JSON string escaped as `JSONEncoder` escapes it: `"`, `\`, and control characters; `/` and non-ASCII as is.
    mutating func value(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case 0x08: buffer.writeStaticString("\\b")
                case 0x0C: buffer.writeStaticString("\\f")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger(hex[Int(byte >> 4)])
                    buffer.writeInteger(hex[Int(byte & 0x0F)])
                }
                start = index + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}

/// `2017-05-10T17:40:20.095Z`: what `Date.ISO8601FormatStyle(includingFractionalSeconds: true)` writes (UTC,
/// milliseconds truncated the way Foundation truncates them), without its per-call calendar work.
enum ISO8601Timestamp {
    static func string(_ date: Date) -> String {
        // Whole seconds and fraction split from the reference date (2001), as Foundation splits them, so the same
        // binary rounding gives the same millisecond.
        let reference = date.timeIntervalSinceReferenceDate
        let whole = reference.rounded(.down)
        let millis = min(999, Int64(((reference - whole) * 1000).rounded(.down)))
        let (days, secondOfDay) = floorDivide(Int64(whole) + 978_307_200, 86_400)
        let calendarDay = CalendarDay(daysSinceEpoch: Int(days))
        let (year, month, day) = (Int64(calendarDay.year), Int64(calendarDay.month), Int64(calendarDay.day))
        guard (0...9999).contains(year) else {
            return date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        }
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var index = 0
            func put(_ value: Int64, digits: Int) {
                var value = value
                var position = index + digits - 1
                while position >= index {
                    buffer[position] = UInt8(truncatingIfNeeded: 48 + value % 10)
                    value /= 10
                    position -= 1
                }
                index += digits
            }
            func put(_ byte: Unicode.Scalar) {
                buffer[index] = UInt8(ascii: byte)
                index += 1
            }
            put(year, digits: 4)
            put("-")
            put(month, digits: 2)
            put("-")
            put(day, digits: 2)
            put("T")
            put(secondOfDay / 3_600, digits: 2)
            put(":")
            put(secondOfDay / 60 % 60, digits: 2)
            put(":")
            put(secondOfDay % 60, digits: 2)
            put(".")
            put(millis, digits: 3)
            put("Z")
            return index
        }
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = a >= 0 ? a / b : (a - b + 1) / b
        return (quotient, a - quotient * b)
    }
}

extension TimesheetResponse: JSONWritable {
    func writeJSON(to writer: inout JSONWriter) {
        writer.raw("{\"approved\":")
        writer.value(approved)
        writer.raw(",\"created_at\":")
        writer.value(createdAt)
        writer.raw(",\"created_by\":")
        writer.value(createdBy)
        writer.raw(",\"date\":")
        writer.value(date)
        writer.raw(",\"hours\":")
        writer.value(hours)
        writer.raw(",\"id\":")
        writer.value(id)
        writer.raw(",\"notes\":")
        writer.value(notes)
        writer.raw(",\"project\":")
        writer.value(project)
        writer.raw(",\"rejection_reason\":")
        writer.value(rejectionReason)
        writer.raw(",\"reviewed_at\":")
        writer.value(reviewedAt)
        writer.raw(",\"reviewed_by\":")
        writer.value(reviewedBy)
        writer.raw(",\"status\":")
        writer.value(status)
        writer.raw(",\"updated_at\":")
        writer.value(updatedAt)
        writer.raw(",\"user_id\":")
        writer.value(userID)
        writer.raw("}")
    }
}

extension PageResponse: JSONWritable {
    func writeJSON(to writer: inout JSONWriter) {
        writer.raw("{\"items\":[")
        for (index, item) in items.enumerated() {
            if index > 0 { writer.raw(",") }
            item.writeJSON(to: &writer)
        }
        writer.raw("],\"next_cursor\":")
        writer.value(nextCursor)
        writer.raw("}")
    }
}
