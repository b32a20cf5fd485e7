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

    mutating func value(_ text: String?) {
        if let text { value(text) } else { raw("null") }
    }

    /// A JSON string escaped as `JSONEncoder` escapes it: `"`, `\`, and control characters; `/` and non-ASCII as is.
    mutating func value(_ text: String) {
        buffer.writeWithCursor(reserving: ByteCursor.jsonStringBound(text)) { $0.jsonString(text) }
    }
}

/// `2017-05-10T17:40:20.095Z`: what `Date.ISO8601FormatStyle(includingFractionalSeconds: true)` writes (UTC,
/// milliseconds truncated the way Foundation truncates them), without its per-call calendar work
/// (``ByteCursor/timestamp(_:)`` writes it).
enum ISO8601Timestamp {
    static func string(_ date: Date) -> String {
        String(unsafeUninitializedCapacity: 40) { buffer in
            var cursor = ByteCursor(UnsafeMutableRawBufferPointer(buffer))
            cursor.timestamp(date)
            return cursor.count
        }
    }

    /// Foundation's own formatting, for the years outside 0...9999 that the fast path does not write.
    static func foundationString(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

extension TimesheetResponse: JSONWritable {
    /// The whole entry through one reservation: its keys, numbers, day and timestamps take at most 373 bytes (each at
    /// its longest fallback), within `fixedBound`, and each string at most its escaped bound.
    func writeJSON(to writer: inout JSONWriter) {
        let fixedBound = 512
        var bound = fixedBound + ByteCursor.jsonStringBound(userID) + ByteCursor.jsonStringBound(project)
        bound += ByteCursor.jsonStringBound(createdBy) + ByteCursor.jsonStringBound(status)
        bound += (notes.map(ByteCursor.jsonStringBound) ?? 4) + (reviewedBy.map(ByteCursor.jsonStringBound) ?? 4)
        bound += rejectionReason.map(ByteCursor.jsonStringBound) ?? 4
        writer.buffer.writeWithCursor(reserving: bound) { json in
            json.raw("{\"approved\":")
            json.raw(approved ? "true" : "false")
            json.raw(",\"created_at\":\"")
            json.timestamp(createdAt)
            json.raw("\",\"created_by\":")
            json.jsonString(createdBy)
            json.raw(",\"date\":\"")
            json.day(date)
            json.raw("\",\"hours\":")
            json.hours(hours)
            json.raw(",\"id\":")
            json.decimal(id)
            json.raw(",\"notes\":")
            json.optionalString(notes)
            json.raw(",\"project\":")
            json.jsonString(project)
            json.raw(",\"rejection_reason\":")
            json.optionalString(rejectionReason)
            json.raw(",\"reviewed_at\":")
            if let reviewedAt {
                json.byte(UInt8(ascii: "\""))
                json.timestamp(reviewedAt)
                json.byte(UInt8(ascii: "\""))
            } else {
                json.raw("null")
            }
            json.raw(",\"reviewed_by\":")
            json.optionalString(reviewedBy)
            json.raw(",\"status\":")
            json.jsonString(status)
            json.raw(",\"updated_at\":\"")
            json.timestamp(updatedAt)
            json.raw("\",\"user_id\":")
            json.jsonString(userID)
            json.raw("}")
        }
    }
}

extension ByteCursor {
    /// A JSON string, or `null`: at most ``jsonStringBound(_:)`` bytes, or 4.
    fileprivate mutating func optionalString(_ text: String?) {
        if let text { jsonString(text) } else { raw("null") }
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
