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

    /// The statistics' check on a repository's running pools.
    static func statistics(on repository: PostgresTimesheetRepository) -> PlannerStatistics {
        PlannerStatistics(pools: repository.pools, queryTimeout: .seconds(30), logger: testLogger)
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
    /// (the inserting session forced its report with `pg_stat_force_next_flush()`), or throws after ten seconds.
    static func waitForChanges(_ rows: Int, on connection: PostgresConnection) async throws {
        for _ in 0..<100 {
            let changed = try await connection.query(
                "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'timesheets'",
                logger: testLogger
            ).decode(Int.self).reduce(into: 0) { $0 = $1 }
            if changed >= rows { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StatisticsNotReported(rows: rows)
    }

    struct StatisticsNotReported: Error {
        var rows: Int
    }

    /// A session keeps its plans only until the server resets its caches, and other suites' migrations in other
    /// databases can cause a reset: a session that falls behind the server's shared invalidation queue (while it
    /// inserts, say) drops every kept plan and replans it for the grown table. So the session that keeps the plan
    /// stays idle while another grows the table, and the test starts from a stale plan in up to three fresh
    /// databases, failing if none keeps one.
    @Test func aTableThatOutgrewItsStatisticsIsAnalysedAndThePageReadsTheIndexAgain() async throws {
        let attempts = 3
        for attempt in 1...attempts {
            let configuration = try await Self.database("stats-grown", analysedWith: 20)
            let tested = try await withConnection(configuration) { connection in
                try await Self.checkAnalysisReplansAStalePage(
                    configuration,
                    on: connection,
                    isLastAttempt: attempt == attempts
                )
            }
            if tested { return }
        }
    }

    /// Keeps a plan of a 20-entry table, grows the table, and checks that a refresh analyses it and the plan reads
    /// the index. Returns false without checking if the kept plan was replanned before the refresh (see above).
    static func checkAnalysisReplansAStalePage(
        _ configuration: DatabaseConfiguration,
        on connection: PostgresConnection,
        isLastAttempt: Bool
    ) async throws -> Bool {
        // The kept generic plan of a 20-entry table: PostgreSQL plans a statement for its values five times, then
        // keeps the generic plan when it is no dearer.
        for _ in 0..<6 {
            _ = try await connection.execute(PendingPageStatement(afterID: 0, limit: 50), logger: testLogger)
                .reduce(into: 0) { count, _ in count += 1 }
        }
        // Grown from another session, so that this one stays idle and keeps up with the invalidation queue.
        try await withConnection(configuration) { writer in
            try await insertPendingEntries(15_000, on: writer)
            try await waitForChanges(15_000, on: writer)
        }
        let stalePlan = try await reviewQueuePlan(on: connection)
        guard stalePlan.contains("Seq Scan") else {
            if isLastAttempt { Issue.record("no attempt kept the plan from 20 rows; the last:\n\(stalePlan)") }
            return false
        }

        try await withRepository(configuration) { repository in
            let statistics = Self.statistics(on: repository)
            let analysed = try await statistics.refresh()
            #expect(analysed.map(\.name) == ["timesheets"])
            #expect(analysed.first.map { $0.changedRows >= 15_000 && $0.countedRows == 20 } == true, "\(analysed)")
            // Analysed: nothing is stale any more.
            let stillStale = try await statistics.staleTables()
            #expect(stillStale.isEmpty)
        }
        let freshPlan = try await reviewQueuePlan(on: connection)
        #expect(freshPlan.contains("timesheets_pending_queue_idx"), "the plan after ANALYZE:\n\(freshPlan)")
        #expect(!freshPlan.contains("Seq Scan"), "the plan after ANALYZE:\n\(freshPlan)")
        return true
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
                let statistics = Self.statistics(on: repository)
                let analysed = try await statistics.refresh()
                #expect(analysed.isEmpty, "\(counted) counted, \(changes) changed")
            }
        }
    }

    /// Of several replicas one analyses a table and the others skip it: while another session holds the advisory
    /// lock, a refresh analyses nothing, and the table is analysed once the lock is free.
    @Test func whileAnotherReplicaAnalysesTheTableIsSkipped() async throws {
        let configuration = try await Self.database("stats-replicas", analysedWith: 20)
        try await withConnection(configuration) { connection in
            try await Self.insertPendingEntries(5_000, on: connection)
            try await Self.waitForChanges(5_000, on: connection)
            try await connection.query(
                "SELECT pg_advisory_lock(\(PlannerStatistics.advisoryLockKey))",
                logger: testLogger
            )
            try await withRepository(configuration) { repository in
                let statistics = Self.statistics(on: repository)
                let whileHeld = try await statistics.refresh()
                #expect(whileHeld.isEmpty)
                try await connection.query(
                    "SELECT pg_advisory_unlock(\(PlannerStatistics.advisoryLockKey))",
                    logger: testLogger
                )
                let afterwards = try await statistics.refresh()
                #expect(afterwards.map(\.name) == ["timesheets"])
            }
        }
    }

    /// A table whose lock another session holds (as autovacuum does) is left for the next round, without an error,
    /// after at most `lockWait`.
    @Test func aTableWhoseLockIsTakenIsLeftForTheNextRound() async throws {
        let configuration = try await Self.database("stats-locked", analysedWith: 20)
        try await withConnection(configuration) { connection in
            try await Self.insertPendingEntries(5_000, on: connection)
            try await Self.waitForChanges(5_000, on: connection)
            // The lock ANALYZE and autovacuum both take.
            try await connection.query("BEGIN", logger: testLogger).drain()
            try await connection.query("LOCK TABLE timesheets IN SHARE UPDATE EXCLUSIVE MODE", logger: testLogger)
                .drain()
            try await withRepository(configuration) { repository in
                var statistics = Self.statistics(on: repository)
                statistics.lockWait = .milliseconds(50)
                let whileLocked = try await statistics.refresh()
                #expect(whileLocked.isEmpty)
                try await connection.query("COMMIT", logger: testLogger).drain()
                let afterwards = try await statistics.refresh()
                #expect(afterwards.map(\.name) == ["timesheets"])
            }
        }
    }

    @Test func aRoleThatMayNotAnalyseLeavesTheStatisticsToAutovacuum() async throws {
        let owner = try await Self.database("stats-role", analysedWith: 20)
        // A role of its own (a unique name, so runs sharing a server never collide), logging in as the suite does.
        let role = "stats_reader_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let created = try await withConnection(owner) { connection in
            let mayCreateRoles = try await connection.query(
                "SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user",
                logger: testLogger
            ).decode(Bool.self).reduce(into: false) { $0 = $1 }
            // A TEST_DATABASE_URL role that may not create roles cannot run this test.
            guard mayCreateRoles else { return false }
            try await Self.insertPendingEntries(5_000, on: connection)
            try await Self.waitForChanges(5_000, on: connection)
            let password = owner.password.map { " PASSWORD '\($0.replacingOccurrences(of: "'", with: "''"))'" } ?? ""
            try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE ROLE \(role) LOGIN\(password)"),
                logger: testLogger
            )
            return true
        }
        guard created else { return }
        var reader = owner
        reader.username = role
        let analysed: [PlannerStatistics.StaleTable]
        do {
            analysed = try await withRepository(reader) { repository in
                // Stale, but not this role's to analyse: ANALYZE would only print a warning and skip the table.
                try await Self.statistics(on: repository).refresh()
            }
        } catch {
            try? await Self.dropRole(role, connectingWith: owner)
            throw error
        }
        try await Self.dropRole(role, connectingWith: owner)
        #expect(analysed.isEmpty)
    }

    static func dropRole(_ role: String, connectingWith configuration: DatabaseConfiguration) async throws {
        try await withConnection(configuration) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "DROP ROLE IF EXISTS \(role)"), logger: testLogger)
        }
    }
}
