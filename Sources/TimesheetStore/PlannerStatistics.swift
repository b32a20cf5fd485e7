import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps PostgreSQL's planner statistics of the entry tables current while a small table grows fast.
///
/// Why: the pages are prepared statements, and PostgreSQL keeps a prepared statement's generic plan until the
/// table's statistics change. A plan made while `timesheets` held 20 rows reads the whole table and sorts it; after a
/// first bulk upload of 15,000 entries that costs 2.4 ms a page instead of 0.04 ms (the review queue fell from about
/// 9,000 to 1,400 requests per second in `scripts/bench`), until autovacuum's next `ANALYZE`, which can take a minute
/// (`autovacuum_naptime`). Every ``interval`` this asks `pg_stat_user_tables` whether a table has changed by more rows
/// than its statistics counted (and at least ``minimumChanges``), and analyses only such a table. A large table never
/// qualifies before autovacuum's own threshold (a tenth of its rows) has had it analysed.
///
/// It only analyses tables this role may analyse (owner, database owner or superuser); otherwise it stays idle, and
/// autovacuum keeps the statistics as before. It waits at most ``lockWait`` for the table's lock, so it never queues
/// behind a long autovacuum; the next round tries again.
public struct PlannerStatistics: Sendable {
    /// The tables whose plans matter to the routes.
    public static let tables = ["timesheets", "timesheet_events"]

    let pools: PostgresPools
    /// How often to look.
    public var interval: Duration = .seconds(10)
    /// The fewest changed rows that make a table's statistics stale, whatever its size.
    public var minimumChanges = 1_000
    /// The longest to wait for a table's lock (autovacuum may hold it).
    public var lockWait: Duration = .milliseconds(200)
    /// The longest one check or `ANALYZE` may take.
    public var queryTimeout: Duration
    let logger: Logger

    public init(pools: PostgresPools, queryTimeout: Duration, logger: Logger) {
        self.pools = pools
        self.queryTimeout = queryTimeout
        self.logger = logger
    }

    /// A table whose statistics no longer describe it.
    public struct StaleTable: Sendable, Equatable {
        public var name: String
        /// Rows inserted, updated or deleted since its last analysis.
        public var changedRows: Int
        /// The rows its statistics count (0 when never analysed).
        public var countedRows: Int
    }

    /// The tables of ``tables`` that changed by at least as many rows as their statistics count, and at least
    /// ``minimumChanges``, and that this role may analyse.
    public func staleTables() async throws -> [StaleTable] {
        try await withDeadline(queryTimeout) { [pools, minimumChanges, logger] in
            let rows = try await pools.clients[0].query(
                """
                SELECT s.relname::text, s.n_mod_since_analyze, greatest(c.reltuples, 0)::int8
                FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
                WHERE s.schemaname = current_schema() AND s.relname = ANY(\(Self.tables))
                  AND s.n_mod_since_analyze >= greatest(\(minimumChanges), c.reltuples)
                  AND (pg_has_role(c.relowner, 'MEMBER')
                       OR pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER')
                       OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
                ORDER BY 1
                """,
                logger: logger
            )
            var stale: [StaleTable] = []
            for try await (name, changed, counted) in rows.decode((String, Int, Int).self) {
                stale.append(StaleTable(name: name, changedRows: changed, countedRows: counted))
            }
            return stale
        }
    }

    /// Analyses every stale table (``staleTables()``) and returns those it analysed. A table whose lock is taken
    /// (autovacuum at work) is left for the next round.
    @discardableResult
    public func refresh() async throws -> [StaleTable] {
        var analysed: [StaleTable] = []
        for table in try await staleTables() where Self.tables.contains(table.name) {
            if try await analyse(table.name) {
                logger.info(
                    "planner statistics refreshed",
                    metadata: [
                        "table": "\(table.name)", "changed_rows": "\(table.changedRows)",
                        "counted_rows": "\(table.countedRows)",
                    ]
                )
                analysed.append(table)
            }
        }
        return analysed
    }

    /// `ANALYZE` of one table of ``tables``; `false` when its lock was not free within ``lockWait``.
    private func analyse(_ table: String) async throws -> Bool {
        let milliseconds = lockWait.components.seconds * 1000 + lockWait.components.attoseconds / 1_000_000_000_000_000
        return try await withDeadline(queryTimeout) { [pools, logger] in
            try await pools.clients[0].withConnection { connection in
                // SET LOCAL and ANALYZE in one transaction: the lock wait applies to this ANALYZE only.
                try await connection.query("BEGIN", logger: logger).drain()
                do {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(milliseconds)ms'"),
                        logger: logger
                    ).drain()
                    // `table` is one of the constant names in `tables`, never input.
                    try await connection.query(PostgresQuery(unsafeSQL: "ANALYZE \(table)"), logger: logger).drain()
                    try await connection.query("COMMIT", logger: logger).drain()
                    return true
                } catch let error as PSQLError where SQLState(error) == .lockNotAvailable {
                    try await connection.query("ROLLBACK", logger: logger).drain()
                    return false
                } catch {
                    try? await connection.query("ROLLBACK", logger: logger).drain()
                    throw error
                }
            }
        }
    }

    /// Looks every ``interval`` until the service group shuts down (or the task is cancelled). A round that fails
    /// (the database away) is logged at debug level and the next one tries again.
    public func run() async {
        // Ends at once when the group shuts down gracefully, not after the current sleep.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    try await refresh()
                } catch {
                    logger.debug("planner statistics: no check this round", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
