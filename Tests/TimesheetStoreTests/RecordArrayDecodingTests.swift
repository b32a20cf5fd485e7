import Foundation
import NIOCore
import PostgresNIO
import Testing
import TimesheetDomain

@testable import TimesheetStore

/// The batched pages' arrays of entry records (`array_agg(ROW(...))` in `array_send`'s binary format), built here by
/// hand: a well-formed array decodes to its entries in order, and a damaged one is an error, never a wrong page. The
/// PostgreSQL side (that the server's arrays are the single pages' rows) is `batchedPagesAreTheSinglePages`.
@Suite("Arrays of entry records")
struct RecordArrayDecodingTests {
    /// One field of a record: its type, and its value's binary bytes (`nil` for NULL).
    typealias Field = (type: PostgresDataType, value: ByteBuffer?)

    static func record(_ fields: [Field]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(fields.count))
        for field in fields {
            buffer.writeInteger(field.type.rawValue)
            if var value = field.value {
                buffer.writeInteger(Int32(value.readableBytes))
                buffer.writeBuffer(&value)
            } else {
                buffer.writeInteger(Int32(-1))
            }
        }
        return buffer
    }

    static func entry(id: Int64, day: Int32, notes: String?) -> ByteBuffer {
        func text(_ string: String) -> Field { (.text, ByteBuffer(string: string)) }
        func integer<I: FixedWidthInteger>(_ type: PostgresDataType, _ value: I) -> Field {
            var buffer = ByteBuffer()
            buffer.writeInteger(value)
            return (type, buffer)
        }
        let microseconds: Int64 = 789_004_800_000_000  // 2025-01-01T00:00:00Z, after PostgreSQL's 2000-01-01
        return record([
            integer(.int8, id), text("user-1"), integer(.int4, day), text("Apollo"), integer(.int4, Int32(750)),
            (.text, notes.map { ByteBuffer(string: $0) }), text("pending"), integer(.timestamptz, microseconds),
            integer(.timestamptz, microseconds), (.text, nil), (.timestamptz, nil), (.text, nil), text("user-1"),
        ])
    }

    /// An array as `array_send` writes it; `count` and `elementType` may lie, to build damaged arrays.
    static func array(
        _ elements: [ByteBuffer?],
        dimensions: Int32 = 1,
        hasNulls: Int32? = nil,
        elementType: PostgresDataType = .record,
        count: Int32? = nil
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(dimensions)
        buffer.writeInteger(hasNulls ?? (elements.contains { $0 == nil } ? 1 : 0))
        buffer.writeInteger(elementType.rawValue)
        for _ in 0..<dimensions {
            buffer.writeInteger(count ?? Int32(elements.count))
            buffer.writeInteger(Int32(1))
        }
        for element in elements {
            if var element {
                buffer.writeInteger(Int32(element.readableBytes))
                buffer.writeBuffer(&element)
            } else {
                buffer.writeInteger(Int32(-1))
            }
        }
        return buffer
    }

    @Test func anArrayDecodesToItsEntriesInOrder() throws {
        let entries = try TimesheetRecordDecoder.timesheets(
            array: Self.array([
                Self.entry(id: 7, day: 20_100, notes: "standup"), Self.entry(id: 3, day: 20_099, notes: nil),
            ])
        )
        #expect(entries.map(\.id) == [TimesheetID(7), TimesheetID(3)])
        #expect(entries.map(\.date) == [CalendarDay(daysSinceEpoch: 20_100), CalendarDay(daysSinceEpoch: 20_099)])
        #expect(entries.map(\.notes) == ["standup", nil])
        #expect(entries[0].hours == Hours(hundredths: 750) && entries[0].status == .pending)
        #expect(entries[0].createdAt == Date(timeIntervalSince1970: 1_735_689_600))
    }

    @Test func anArrayWithoutDimensionsIsAnEmptyPage() throws {
        #expect(try TimesheetRecordDecoder.timesheets(array: Self.array([], dimensions: 0)).isEmpty)
    }

    static let damagedArrays: [(damage: String, array: ByteBuffer)] = [
        ("a NULL element", array([entry(id: 1, day: 1, notes: nil), nil])),
        ("a NULL element, the flag not set", array([entry(id: 1, day: 1, notes: nil), nil], hasNulls: 0)),
        ("a count of Int32.max", array([entry(id: 1, day: 1, notes: nil)], count: .max)),
        ("a negative count", array([entry(id: 1, day: 1, notes: nil)], count: -1)),
        ("bytes after an empty array", array([entry(id: 1, day: 1, notes: nil)], dimensions: 0)),
        ("an array of int8", array([entry(id: 1, day: 1, notes: nil)], elementType: .int8)),
        ("two dimensions", array([entry(id: 1, day: 1, notes: nil)], dimensions: 2)),
        ("more elements than bytes", array([entry(id: 1, day: 1, notes: nil)], count: 1_000_000)),
        ("fewer elements than said", array([entry(id: 1, day: 1, notes: nil)], count: 2)),
        ("bytes after the last element", array([entry(id: 1, day: 1, notes: nil)], count: 0)),
        ("a record of one field", array([record([(.int8, ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, 1]))])])),
        ("a header cut short", ByteBuffer(bytes: [0, 0, 0, 1, 0, 0])),
    ]

    @Test(arguments: RecordArrayDecodingTests.damagedArrays)
    func aDamagedArrayIsRefused(_ damage: String, _ array: ByteBuffer) {
        #expect(throws: TimesheetRecordDecoder.UnexpectedRecord.self, "\(damage)") {
            try TimesheetRecordDecoder.timesheets(array: array)
        }
    }

    /// What the batched reply must hold: one row per page asked for. A page missing, repeated or over its limit is
    /// an error, never an empty or a wrong page; a page out of order is put in order.
    @Test func aBatchedReplyMustNameEachPageOnce() async throws {
        let entries = try TimesheetRecordDecoder.timesheets(
            array: Self.array([
                Self.entry(id: 7, day: 3, notes: nil), Self.entry(id: 5, day: 2, notes: nil),
                Self.entry(id: 3, day: 1, notes: nil),
            ])
        )
        func read(_ reply: [BatchedPage], limit: Int = 20) async throws -> [Int: [Timesheet]] {
            let answers = try await PostgresTimesheetRepository.pages(
                [10, 20],
                limit: { _ in limit },
                inOrder: { $0.id.rawValue > $1.id.rawValue },
                one: { _ in
                    Issue.record("no page is read alone here")
                    return []
                },
                all: { reply.async }
            )
            return try answers.mapValues { try $0.get() }
        }
        let pages = try await read([
            BatchedPage(position: 2, entries: []), BatchedPage(position: 1, entries: entries.reversed()),
        ])
        #expect(pages[10]?.map(\.id.rawValue) == [7, 5, 3])
        #expect(pages[20]?.isEmpty == true)
        for (damage, reply, limit) in [
            ("a page missing", [BatchedPage(position: 1, entries: entries)], 20),
            ("a page twice", [1, 2, 2].map { BatchedPage(position: $0, entries: []) }, 20),
            ("a page out of range", [1, 2, 3].map { BatchedPage(position: $0, entries: []) }, 20),
            ("a page over its limit", [1, 2].map { BatchedPage(position: $0, entries: entries) }, 2),
        ] {
            await #expect(throws: TimesheetRecordDecoder.UnexpectedRecord.self, "\(damage)") {
                try await read(reply, limit: limit)
            }
        }
    }
}

extension Array where Element: Sendable {
    /// The elements as an asynchronous sequence, as a statement's rows arrive.
    fileprivate var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}
