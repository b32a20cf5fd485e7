import Foundation
import PostgresNIO
import Testing
import TimesheetDomain

@testable import TimesheetStore

/// The report's SQL against PostgreSQL itself: its plan, and a stream that is abandoned.
@Suite struct HoursReportStoreTests {
    static let database = SuiteDatabase("reports")
    static let now = Date(timeIntervalSince1970: 1_560_000_000)

    /// The default report (approved entries by user, then project) reads migration 0006's index of approved entries
    /// in its order and sums groups as it goes; a report of every status reads migration 0004's index the same way.
    /// With sorting, hashing and sequential scans priced out, neither plan needs them. This holds only while the
    /// statement groups and sorts with the collation the indexes are built with.
    @Test(arguments: [
        (TimesheetStatus?.some(.approved), "timesheets_report_approved_idx"),
        (nil, "timesheets_report_user_project_idx"),
    ])
    func reportsByUserAndProjectReadAnIndexInOrder(status: TimesheetStatus?, index: String) async throws {
        let configuration = try await Self.database.get()
        let request = HoursReportRequest(
            from: CalendarDay(year: 2019, month: 1, day: 1)!,
            to: CalendarDay(year: 2019, month: 12, day: 31)!,
            status: status
        )
        let statement = HoursReportQuery.statement(for: request)
        let plan = try await withConnection(configuration) { connection in
            for setting in ["enable_seqscan", "enable_sort", "enable_hashagg", "enable_bitmapscan"] {
                try await connection.query(PostgresQuery(unsafeSQL: "SET \(setting) = off"), logger: testLogger)
                    .drain()
            }
            var explain = PostgresQuery(unsafeSQL: "EXPLAIN " + statement.sql)
            explain.binds = statement.binds
            var lines: [String] = []
            for try await line in try await connection.query(explain, logger: testLogger).decode(String.self) {
                lines.append(line)
            }
            return lines.joined(separator: "\n")
        }
        #expect(plan.contains(index), "\(plan)")
        #expect(!plan.contains("Sort"), "\(plan)")
        #expect(!plan.contains("HashAggregate"), "\(plan)")
    }

    /// A client that goes away mid-export stops reading; the pooled connection comes back, so later reports (on a
    /// pool of one connection) still run.
    @Test func anAbandonedReportReleasesItsConnection() async throws {
        var configuration = try await Self.database.get()
        configuration.poolSize = 1
        configuration.poolPerEventLoop = false
        try await withRepository(configuration) { repository in
            let users = (0..<3_000).map { "abandon-\($0)-\(UUID().uuidString.prefix(6))" }
            _ = try await repository.insert(
                users.map {
                    NewTimesheet(
                        userID: $0,
                        date: CalendarDay(year: 2019, month: 3, day: 1)!,
                        project: "Abandoned",
                        hours: Hours(hundredths: 125)
                    )
                },
                at: Self.now
            )
            let request = HoursReportRequest(
                from: CalendarDay(year: 2019, month: 3, day: 1)!,
                to: CalendarDay(year: 2019, month: 3, day: 1)!,
                status: nil,
                project: "Abandoned"
            )
            for _ in 0..<3 {
                var iterator = try await repository.hoursReport(request).makeAsyncIterator()
                let first = try await iterator.next()
                #expect(first?.hours == Hours(hundredths: 125))
            }
            var rows = 0
            var total = Hours.zero
            for try await row in try await repository.hoursReport(request) {
                rows += 1
                total = total + row.hours
            }
            #expect(rows == 3_000)
            #expect(total == Hours(hundredths: 375_000))

            // Read by the batch, as the response writes them: full batches but the last, the same rows in order.
            var sizes: [Int] = []
            var batchedUsers: [String] = []
            for try await batch in try await repository.hoursReport(request).batches {
                sizes.append(batch.count)
                batchedUsers += batch.compactMap(\.userID)
            }
            let full = HoursReportBatches.batchSize
            let expectedSizes: [Int] = Array(repeating: full, count: 3_000 / full) + [3_000 % full]
            #expect(sizes == expectedSizes)
            let expectedUsers = users.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            #expect(batchedUsers == expectedUsers)
        }
    }
}
