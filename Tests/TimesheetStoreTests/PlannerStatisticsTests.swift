import Foundation
import PostgresNIO
import Testing
import TimesheetDomain

@testable import TimesheetStore

/// A table that outgrows its statistics is analysed, so the pages' kept plans fit it again; others are left alone.
/// Each test has its own database, with autovacuum off for the entry tables, so only the code under test analyses.
@Suite struct PlannerStatisticsTests {
    /// A fresh database holding `rows` entries, a tenth of them pending (as `scripts/bench` seeds), analysed, with
    /// autovacuum off for the entry tables.
    static func database(_ label: String, analysedWith rows: Int) async throws -> DatabaseConfiguration {
        let configuration = try await TestPostgres.shared.freshDatabase(label)
        try await withConnection(configuration) { connection in
            for table in PlannerStatistics.tables {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER TABLE \(table) SET (autovacuum_enabled = false)"),
                    logger: testLogger
                )
            }
            try await connection.query(
                """
                INSERT INTO timesheets (user_id, work_date, project, hours, status, created_at, updated_at,
                                        reviewed_by, reviewed_at, created_by)
                SELECT 'stats-user-' || (g % 50), DATE '2019-01-01' + g / 50, 'P', 1,
                    CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'approved' END, now(), now(),
                    CASE WHEN g % 10 = 0 THEN NULL ELSE 'stats-manager' END,
                    CASE WHEN g % 10 = 0 THEN NULL ELSE now() END,
                    'stats-user-' || (g % 50)
                FROM generate_series(0, \(Int32(rows - 1))) AS g
                """,
                logger: testLogger
            )
            // Counted before ANALYZE, so that ANALYZE resets them: counts reported after it would seem changes since.
            try await connection.query("SELECT pg_stat_force_next_flush()", logger: testLogger)
            try await waitForChanges(rows, on: connection)
            try await connection.query("ANALYZE timesheets", logger: testLogger)
        }
        return configuration
    }

    /// Inserts `count` pending entries and makes this session's table statistics visible to the others at once.
    static func insertPendingEntries(_ count: Int, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO timesheets (user_id, work_date, project, hours, created_at, updated_at, created_by)
            SELECT 'stats-user-' || (g % 50), DATE '2020-01-01' + g / 50, 'P', 1, now(), now(),
                'stats-user-' || (g % 50)
            FROM generate_series(1, \(Int32(count))) AS g
            """,
            logger: testLogger
        )
        try await connection.query("SELECT pg_stat_force_next_flush()", logger: testLogger)
    }

    /// The plan this session keeps for the review queue's first page.
    static func reviewQueuePlan(on connection: PostgresConnection) async throws -> String {
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "EXPLAIN (COSTS OFF) EXECUTE \(PendingPageStatement.name)(0, 50)"),
            logger: testLogger
        ).decode(String.self)
        return try await rows.reduce(into: "") { $0 += $1 + "\n" }
    }

    /// Waits until the server's statistics show at least `rows` changed rows of `timesheets` since its last analysis
    /// (a backend reports its counts within about a second of going idle), or gives up after ten seconds.
    static func waitForChanges(_ rows: Int, on connection: PostgresConnection) async throws {
        for _ in 0..<100 {
            let changed = try await connection.query(
                "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'timesheets'",
                logger: testLogger
            ).decode(Int.self).reduce(into: 0) { $0 = $1 }
            if changed >= rows { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("pg_stat_user_tables never showed \(rows) changed rows")
    }

    @Test func aTableThatOutgrewItsStatisticsIsAnalysedAndThePageReadsTheIndexAgain() async throws {
        let configuration = try await Self.database("stats-grown", analysedWith: 20)
        try await withConnection(configuration) { connection in
            // The kept generic plan of a 20-entry table: PostgreSQL plans a statement for its values five times, then
            // keeps the generic plan when it is no dearer.
            for _ in 0..<6 {
                _ = try await connection.execute(PendingPageStatement(afterID: 0, limit: 50), logger: testLogger)
                    .reduce(into: 0) { count, _ in count += 1 }
            }
            try await Self.insertPendingEntries(15_000, on: connection)
            try await Self.waitForChanges(15_000, on: connection)
            let stalePlan = try await Self.reviewQueuePlan(on: connection)
            #expect(stalePlan.contains("Seq Scan"), "the plan kept from 20 rows:\n\(stalePlan)")

            try await withRepository(configuration) { repository in
                let statistics = PlannerStatistics(
                    pools: repository.pools,
                    queryTimeout: .seconds(30),
                    logger: testLogger
                )
                let analysed = try await statistics.refresh()
                #expect(analysed.map(\.name) == ["timesheets"])
                #expect(analysed.first.map { $0.changedRows >= 15_000 && $0.countedRows == 20 } == true, "\(analysed)")
                // Analysed: nothing is stale any more.
                let stillStale = try await statistics.staleTables()
                #expect(stillStale.isEmpty)
            }
            let freshPlan = try await Self.reviewQueuePlan(on: connection)
            #expect(freshPlan.contains("timesheets_pending_queue_idx"), "the plan after ANALYZE:\n\(freshPlan)")
            #expect(!freshPlan.contains("Seq Scan"), "the plan after ANALYZE:\n\(freshPlan)")
        }
    }

    @Test func aTableWithinItsStatisticsIsLeftAlone() async throws {
        // 5,000 counted rows and 4,000 changes (fewer than counted); then 20 counted rows and 500 changes (fewer than
        // the minimum of 1,000).
        for (counted, changes) in [(5_000, 4_000), (20, 500)] {
            let configuration = try await Self.database("stats-fresh", analysedWith: counted)
            try await withConnection(configuration) { connection in
                try await Self.insertPendingEntries(changes, on: connection)
                try await Self.waitForChanges(changes, on: connection)
            }
            try await withRepository(configuration) { repository in
                let statistics = PlannerStatistics(
                    pools: repository.pools,
                    queryTimeout: .seconds(30),
                    logger: testLogger
                )
                let analysed = try await statistics.refresh()
                #expect(analysed.isEmpty, "\(counted) counted, \(changes) changed")
            }
        }
    }

    @Test func aRoleThatMayNotAnalyseLeavesTheStatisticsToAutovacuum() async throws {
        var configuration = try await Self.database("stats-role", analysedWith: 20)
        try await withConnection(configuration) { connection in
            try await Self.insertPendingEntries(5_000, on: connection)
            try await Self.waitForChanges(5_000, on: connection)
            let role = "stats_reader_\(getpid())"
            for statement in ["CREATE ROLE \(role) LOGIN", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \(role)"] {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
            }
            configuration.username = role
        }
        try await withRepository(configuration) { repository in
            let statistics = PlannerStatistics(
                    pools: repository.pools,
                    queryTimeout: .seconds(30),
                    logger: testLogger
                )
            // Stale, but not this role's to analyse: ANALYZE would only print a warning and skip the table.
            let analysed = try await statistics.refresh()
            #expect(analysed.isEmpty)
        }
    }
}
