import Foundation
import PostgresNIO
import Testing
import TimesheetDomain

@testable import TimesheetStore

/// The pages' prepared statements keep one plan. A statement whose generic plan PostgreSQL costs above the plans made
/// for its bound values is planned again on every execution, which costs the database as much as running it.
@Suite(.serialized) struct PreparedStatementPlanTests {
    static let database = SuiteDatabase("prepared-plans")

    /// 60,000 pending entries of 200 users, analysed: enough that a limit the planner cannot see would be costed as a
    /// tenth of them. Stored once for the suite.
    static func storeManyPendingEntries(in connection: PostgresConnection) async throws {
        let stored = try await connection.query(
            "SELECT count(*) FROM timesheets WHERE user_id LIKE 'plan-user-%'",
            logger: testLogger
        ).decode(Int.self).reduce(into: 0) { $0 = $1 }
        guard stored == 0 else { return }
        try await connection.query(
            """
            INSERT INTO timesheets (user_id, work_date, project, hours, created_at, updated_at, created_by)
            SELECT 'plan-user-' || (g % 200), DATE '2020-01-01' + g / 200, 'P', 1, now(), now(),
                'plan-user-' || (g % 200)
            FROM generate_series(0, 59999) AS g
            """,
            logger: testLogger
        )
        try await connection.query("ANALYZE timesheets", logger: testLogger)
    }

    /// How often the session planned `name` generically and for its values, from `pg_prepared_statements`.
    static func plans(of name: String, in connection: PostgresConnection) async throws -> (generic: Int, custom: Int) {
        let rows = try await connection.query(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = \(name)",
            logger: testLogger
        ).decode((Int, Int).self)
        for try await (generic, custom) in rows { return (generic, custom) }
        Issue.record("\(name) is not prepared in this session")
        return (0, 0)
    }

    @Test func thePagesAreNotPlannedOnEveryExecution() async throws {
        try await withConnection(try await Self.database.get()) { connection in
            try await Self.storeManyPendingEntries(in: connection)
            for _ in 0..<10 {
                let pending = try await connection.execute(
                    PendingPageStatement(afterID: 0, limit: 21),
                    logger: testLogger
                ).reduce(into: 0) { count, _ in count += 1 }
                #expect(pending == 21)
                let own = try await connection.execute(
                    FirstPageStatement(userID: "plan-user-7", limit: 21),
                    logger: testLogger
                ).reduce(into: 0) { count, _ in count += 1 }
                #expect(own == 21)
            }
            // PostgreSQL makes custom plans for the first five executions, then keeps the generic plan if it is as
            // cheap; a statement that is replanned each time shows ten custom plans here.
            for name in [PendingPageStatement.name, FirstPageStatement.name] {
                let plans = try await Self.plans(of: name, in: connection)
                #expect(plans.generic >= 5 && plans.custom <= 5, "\(name): \(plans)")
            }
        }
    }

    /// The constant inner limit never cuts a page short: the largest prepared pages are whole, and a page above them
    /// (through the dynamic statement) too.
    @Test func pagesAreWholeAtEverySize() async throws {
        let configuration = try await Self.database.get()
        try await withConnection(configuration) { connection in
            try await Self.storeManyPendingEntries(in: connection)
            let limit = PageStatementSQL.maximumRows
            // From the start, and from an entry in the middle of the queue.
            for after: Int64 in [0, 30_000] {
                let ids = try await connection.execute(
                    PendingPageStatement(afterID: after, limit: limit),
                    logger: testLogger
                ).reduce(into: [Int64]()) { $0.append($1.id.rawValue) }
                let expected = try await connection.query(
                    "SELECT id FROM timesheets WHERE status = 'pending' AND id > \(after) ORDER BY id LIMIT \(limit)",
                    logger: testLogger
                ).decode(Int64.self).reduce(into: [Int64]()) { $0.append($1) }
                #expect(ids.count == limit)
                #expect(ids == expected)
            }
            let own = try await connection.execute(
                FirstPageStatement(userID: "plan-user-3", limit: PageStatementSQL.maximumRows),
                logger: testLogger
            ).reduce(into: [Timesheet]()) { $0.append($1) }
            #expect(own.count == PageStatementSQL.maximumRows)
            #expect(zip(own, own.dropFirst()).allSatisfy { ($0.date, $0.id.rawValue) > ($1.date, $1.id.rawValue) })
        }
        try await withRepository(configuration) { repository in
            // plan-user-3 has 300 entries; the queue has 60,000.
            for (query, count) in [
                (TimesheetQuery(userID: "plan-user-3", order: .newestDayFirst, limit: PageRequest.maxLimit + 1), 300),
                (
                    TimesheetQuery(userID: nil, status: .pending, order: .oldestFirst, limit: PageRequest.maxLimit + 1),
                    PageRequest.maxLimit + 1
                ),
            ] {
                let entries = try await repository.entries(query)
                #expect(entries.count == count, "\(query)")
            }
        }
    }

    /// Several pages read by one batched statement are, page by page, what each page's own statement reads; a value
    /// the server refuses fails only its own page.
    @Test func batchedPagesAreTheSinglePages() async throws {
        try await withConnection(try await Self.database.get()) { connection in
            try await Self.storeManyPendingEntries(in: connection)
            let firstKeys = [
                FirstPageKey(userID: "plan-user-1", limit: 20), FirstPageKey(userID: "plan-user-2", limit: 5),
                FirstPageKey(userID: "nobody", limit: 20), FirstPageKey(userID: "plan-user-1", limit: 101),
            ]
            let first = try await PostgresTimesheetRepository.firstPages(firstKeys, on: connection, logger: testLogger)
            for key in firstKeys {
                let alone = try await connection.execute(
                    FirstPageStatement(userID: key.userID, limit: key.limit),
                    logger: testLogger
                ).reduce(into: [Timesheet]()) { $0.append($1) }
                #expect(try first[key]?.get() == alone, "\(key)")
            }
            #expect(try first[firstKeys[0]]?.get().count == 20)
            #expect(try first[firstKeys[2]]?.get().isEmpty == true)

            let pendingKeys = [
                PendingPageKey(afterID: 0, limit: 20), PendingPageKey(afterID: 30_000, limit: 50),
                PendingPageKey(afterID: 0, limit: 3), PendingPageKey(afterID: Int64.max, limit: 20),
            ]
            let pending = try await PostgresTimesheetRepository.pendingPages(
                pendingKeys,
                on: connection,
                logger: testLogger
            )
            for key in pendingKeys {
                let alone = try await connection.execute(
                    PendingPageStatement(afterID: key.afterID, limit: key.limit),
                    logger: testLogger
                ).reduce(into: [Timesheet]()) { $0.append($1) }
                #expect(try pending[key]?.get() == alone, "\(key)")
            }

            // PostgreSQL stores no NUL in text: the batch is refused, and each page is read alone instead.
            let withRefused = [
                FirstPageKey(userID: "plan-user-4", limit: 20), FirstPageKey(userID: "a\u{0}b", limit: 20),
            ]
            let answers = try await PostgresTimesheetRepository.firstPages(
                withRefused,
                on: connection,
                logger: testLogger
            )
            #expect(try answers[withRefused[0]]?.get().count == 20)
            #expect(throws: PSQLError.self) { try answers[withRefused[1]]?.get() }

            for _ in 0..<10 {
                _ = try await PostgresTimesheetRepository.firstPages(firstKeys, on: connection, logger: testLogger)
                _ = try await PostgresTimesheetRepository.pendingPages(pendingKeys, on: connection, logger: testLogger)
            }
            for name in [FirstPagesStatement.name, PendingPagesStatement.name] {
                let plans = try await Self.plans(of: name, in: connection)
                #expect(plans.generic >= 5 && plans.custom <= 5, "\(name): \(plans)")
            }
        }
    }

    /// Many readers at once on a pool of one connection: their reads are batched, and each gets its own page.
    @Test func concurrentReadersGetTheirOwnPages() async throws {
        var configuration = try await Self.database.get()
        configuration.poolSize = 1
        try await withConnection(configuration) { try await Self.storeManyPendingEntries(in: $0) }
        let expected = try await withRepository(configuration) { repository in
            var pages: [Int: [Timesheet]] = [:]
            for user in 0..<40 {
                pages[user] = try await repository.entries(
                    TimesheetQuery(userID: "plan-user-\(user)", order: .newestDayFirst, limit: 20)
                )
            }
            return pages
        }
        let queue = try await withRepository(configuration) { repository in
            try await repository.entries(TimesheetQuery(userID: nil, status: .pending, order: .oldestFirst, limit: 20))
        }
        try await withRepository(configuration) { repository in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for round in 0..<5 {
                    for user in 0..<40 {
                        group.addTask {
                            let page = try await repository.entries(
                                TimesheetQuery(userID: "plan-user-\(user)", order: .newestDayFirst, limit: 20)
                            )
                            #expect(page == expected[user], "round \(round), plan-user-\(user)")
                        }
                    }
                    group.addTask {
                        let page = try await repository.entries(
                            TimesheetQuery(userID: nil, status: .pending, order: .oldestFirst, limit: 20)
                        )
                        #expect(page == queue)
                    }
                }
                try await group.waitForAll()
            }
            let pool = repository.pools.clients[0]
            #expect((repository.batchers.firstPages(on: pool)?.largestBatch ?? 0) > 1, "no list read was batched")
        }
    }
}
