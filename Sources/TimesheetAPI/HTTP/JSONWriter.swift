import Foundation
import NIOCore
import TimesheetDomain

/// A response body the API writes itself, byte for byte what `JSONEncoder.api` makes of it (sorted keys, slashes
/// unescaped, timestamps with milliseconds), without Foundation's boxing of every value: entry pages are the most
/// frequent bodies, and `JSONEncoder` spent about a quarter of the server's CPU on `GET /timesheets`
/// (scripts/bench, perf). A test checks the two agree.
protocol JSONWritable: Encodable {
    /// The bytes a writer reserves up front, so that a typical value is written without its buffer growing. Each
    /// growth is a `realloc`, and under load those were the allocator's most contended calls (see ``EntryListSize``).
    /// No default: each body chooses its own.
    var expectedJSONSize: Int { get }

    func writeJSON(to writer: inout JSONWriter)
}

/// The reservation for a list of entries, a heuristic for typical ones: 512 bytes an entry (a typical entry writes
/// about 400) and 1,024 more, which also covers the next entry's upper bound at each step while its strings stay
/// short (each string counts six times its UTF-8 length there). A page of typical entries is then written into one
/// allocation; entries with long notes may still grow it. When the buffer grew instead (512 bytes, doubling to 8-16
/// KB for a page of 20), its reallocations were the most contended calls into glibc's allocator: a buffer's memory
/// often comes from the other event loop's arena (a chunk freed on one thread is reused by the next allocation on
/// that thread), so each `realloc` locked an arena the other loop was using (perf, `GET /approvals`).
enum EntryListSize {
    static func expected(entries: Int) -> Int { 1_024 + entries * 512 }
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
    /// An entry alone is written into one allocation of its upper bound.
    var expectedJSONSize: Int { jsonBound }

    /// The most bytes the entry's JSON can take: its keys, numbers, day and timestamps take at most 373 bytes (each at
    /// its longest fallback), within `fixedBound`, and each string at most its escaped bound.
    var jsonBound: Int {
        let fixedBound = 512
        var bound = fixedBound + ByteCursor.jsonStringBound(userID) + ByteCursor.jsonStringBound(project)
        bound += ByteCursor.jsonStringBound(createdBy) + ByteCursor.jsonStringBound(status)
        bound += (notes.map(ByteCursor.jsonStringBound) ?? 4) + (reviewedBy.map(ByteCursor.jsonStringBound) ?? 4)
        bound += rejectionReason.map(ByteCursor.jsonStringBound) ?? 4
        return bound
    }

    /// The whole entry through one reservation of ``jsonBound``.
    func writeJSON(to writer: inout JSONWriter) {
        writer.buffer.writeWithCursor(reserving: jsonBound) { json in
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
    var expectedJSONSize: Int { EntryListSize.expected(entries: items.count) }

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
