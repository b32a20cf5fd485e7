import Foundation
import NIOCore
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI

/// The hand-written entry JSON is byte for byte what `JSONEncoder.api` makes of the same values.
@Suite struct JSONWriterTests {
    static func written(_ value: some JSONWritable) -> Data {
        var writer = JSONWriter(capacity: 64)
        value.writeJSON(to: &writer)
        return Data(writer.buffer.readableBytesView)
    }

    static let awkward = [
        "plain", "", "quote \" backslash \\ slash / tab \t newline \n return \r",
        "\u{0} \u{1} \u{8} \u{C} \u{1F} \u{7F}",
        "café ✓ 😀 \u{2028}", "</script>",
    ]

    @Test func entriesMatchJSONEncoder() throws {
        var generator = SystemRandomNumberGenerator()
        for (index, text) in Self.awkward.enumerated() {
            for status in [TimesheetStatus.pending, .approved, .rejected] {
                let created = Date(timeIntervalSince1970: Double.random(in: 0..<4_000_000_000, using: &generator))
                let reviewed = status == .pending ? nil : created.addingTimeInterval(0.0015 * Double(index))
                let entry = Timesheet(
                    id: TimesheetID(Int64(index) * 1_000_003),
                    userID: "auth0|" + text,
                    date: CalendarDay(daysSinceEpoch: 17_000 + index),
                    project: text.isEmpty ? "p" : text,
                    hours: Hours(hundredths: [1, 5, 50, 707, 800, 2_399, 2_400][index % 7]),
                    notes: index % 2 == 0 ? text : nil,
                    status: status,
                    createdAt: created,
                    updatedAt: created.addingTimeInterval(0.001),
                    reviewedBy: status == .pending ? nil : text,
                    reviewedAt: reviewed,
                    rejectionReason: status == .rejected ? text : nil
                )
                let response = TimesheetResponse(entry)
                #expect(Self.written(response) == (try JSONEncoder.api.encode(response)), "entry \(index) \(status)")
            }
        }
    }

    @Test func pagesMatchJSONEncoder() throws {
        let now = Date()
        let items = (0..<3).map { index in
            Timesheet(
                id: TimesheetID(Int64(index + 1)),
                userID: "u",
                date: CalendarDay(daysSinceEpoch: 19_000 + index),
                project: "P",
                hours: Hours(hundredths: 750),
                createdAt: now,
                updatedAt: now
            )
        }
        for page in [
            TimesheetPage(items: [], nextCursor: nil),
            TimesheetPage(items: items, nextCursor: TimesheetCursor(order: .newestDayFirst, after: items[0])),
        ] {
            #expect(Self.written(PageResponse(page)) == (try JSONEncoder.api.encode(PageResponse(page))))
        }
    }

    /// The list routes' pages, a batch's answer and a created entry are written into the buffer they start with: a
    /// growth is a `realloc`, which contended for the allocator's locks under load.
    @Test(arguments: [1, 2, 20, 50, 100])
    func typicalResponsesNeverGrowTheirBuffer(entries: Int) {
        let now = Date()
        let items = (0..<entries).map { index in
            Timesheet(
                id: TimesheetID(Int64(9_000_000 + index)),
                userID: "auth0|bench-user-\(index)",
                date: CalendarDay(daysSinceEpoch: 19_000 + index),
                project: "Project \(index % 13)",
                hours: Hours(hundredths: 750),
                notes: index.isMultiple(of: 3) ? "sprint work on the reporting page" : nil,
                status: index.isMultiple(of: 2) ? .pending : .approved,
                createdAt: now,
                updatedAt: now,
                reviewedBy: index.isMultiple(of: 2) ? nil : "auth0|bench-manager",
                reviewedAt: index.isMultiple(of: 2) ? nil : now
            )
        }
        let page = PageResponse(
            TimesheetPage(items: items, nextCursor: TimesheetCursor(order: .newestDayFirst, after: items[0]))
        )
        let batch = TimesheetController<InMemoryTimesheetRepository>.BatchResponse(
            items: items.map(TimesheetResponse.init)
        )
        let values: [any JSONWritable] = [page, batch, TimesheetResponse(items[0])]
        for value in values {
            var writer = JSONWriter(capacity: value.expectedJSONSize)
            let capacity = writer.buffer.capacity
            value.writeJSON(to: &writer)
            #expect(writer.buffer.capacity == capacity, "\(type(of: value)) of \(entries) grew its buffer")
        }
    }

    @Test func timestampsMatchFoundation() {
        var generator = SystemRandomNumberGenerator()
        let edges: [Double] = [0, 0.0005, 0.9995, 1_700_000_001.001, 1_700_000_001.004, 951_782_400, 4_102_444_799.999]
        let dates =
            edges.map(Date.init(timeIntervalSince1970:))
            + (0..<2_000).map { _ in
                Date(timeIntervalSince1970: Double.random(in: 0..<4_000_000_000, using: &generator))
            }
        for date in dates {
            #expect(
                ISO8601Timestamp.string(date)
                    == date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            )
        }
    }
}
