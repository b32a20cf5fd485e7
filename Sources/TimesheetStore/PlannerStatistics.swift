import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps PostgreSQL's planner statistics of the entry tables current while a small table grows fast.
///
/// Why: the pages are prepared statements, and PostgreSQL keeps a prepared statement's generic plan until the
/// table's statistics change. A plan made while `timesheets` held 20 rows reads the whole table and sorts it; after a
/// first bulk upload of 15,000 entries that costs 2.4 ms a page instead of 0.04 ms (the review queue fell from about
/// 9,000 to 2,000 requests per second in `scripts/bench`), until autovacuum's next `ANALYZE`, which can take a minute
/// (`autovacuum_naptime`). Every ``interval`` this asks `pg_stat_user_tables` whether a table has changed by at least
/// as many rows as its statistics count (and at least ``minimumChanges``), and analyses only such a table. While
/// autovacuum keeps up, a large table never qualifies: autovacuum analyses it after a tenth of its rows change.
///
/// It only analyses tables this role may analyse (it owns them, owns the database, or is a superuser, through roles
/// it inherits; PostgreSQL 17's MAINTAIN privilege is not consulted); otherwise it stays idle, and autovacuum keeps
/// the statistics as before. It waits at most ``lockWait`` for the table's lock, so it never queues behind a long
/// autovacuum, and when several replicas run it, one analyses a table while the others skip it (an advisory lock).
/// The next round tries again.
public struct PlannerStatistics: Sendable {
    /// The tables whose plans matter to the routes.
    public static let tables = ["timesheets", "timesheet_events"]
    /// The advisory lock that lets one replica at a time analyse (`pg_try_advisory_xact_lock`).
    static let advisoryLockKey: Int64 = 0x7473_5f73_7461_7473

    let pools: PostgresPools
    /// How often to look.
    public var interval: Duration = .seconds(10)
    /// The fewest changed rows that make a table's statistics stale, whatever its size.
    public var minimumChanges = 1_000
    /// The longest to wait for a table's lock (autovacuum may hold it); at least 1 ms.
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

    /// What one table's refresh did.
    enum Outcome {
        case analysed
        /// Its lock was taken (autovacuum), or another replica was analysing.
        case busy
    }

    /// The tables of ``tables`` that changed by at least as many rows as their statistics count, and at least
    /// ``minimumChanges``, and that this role may analyse.
    public func staleTables() async throws -> [StaleTable] {
        try await withDeadline(queryTimeout) { [pools, minimumChanges, logger] in
            // The tables as an unqualified ANALYZE names them, through the search path.
            let rows = try await pools.clients[0].query(
                """
                SELECT s.relname::text, s.n_mod_since_analyze, greatest(c.reltuples, 0)::int8
                FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
                WHERE s.relid IN (SELECT to_regclass(name) FROM unnest(\(Self.tables)::text[]) AS name)
                  AND s.n_mod_since_analyze >= greatest(\(minimumChanges), c.reltuples)
                  AND (pg_has_role(c.relowner, 'USAGE')
                       OR pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE'))
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
    /// (autovacuum at work, or another replica analysing) is left for the next round; a table that fails does not
    /// keep the others from their turn. Throws when the check itself fails, or when every stale table failed.
    @discardableResult
    public func refresh() async throws -> [StaleTable] {
        var analysed: [StaleTable] = []
        var lastError: (any Error)?
        for table in try await staleTables() where Self.tables.contains(table.name) {
            do {
                guard try await analyse(table.name) == .analysed else { continue }
            } catch {
                logger.debug(
                    "planner statistics: ANALYZE failed",
                    metadata: ["table": "\(table.name)", "error": "\(String(reflecting: error))"]
                )
                lastError = error
                continue
            }
            logger.info(
                "planner statistics refreshed",
                metadata: [
                    "table": "\(table.name)", "changed_rows": "\(table.changedRows)",
                    "counted_rows": "\(table.countedRows)",
                ]
            )
            analysed.append(table)
        }
        if analysed.isEmpty, let lastError { throw lastError }
        return analysed
    }

    /// `ANALYZE` of one table of ``tables``, in a transaction that holds the replicas' advisory lock.
    private func analyse(_ table: String) async throws -> Outcome {
        let milliseconds = max(1, DatabaseConfiguration.milliseconds(lockWait))
        return try await withDeadline(queryTimeout) { [pools, logger] in
            try await pools.clients[0].withConnection { connection in
                do {
                    return try await connection.withTransaction(logger: logger) { connection -> Outcome in
                        var acquired = false
                        for try await value in try await connection.query(
                            "SELECT pg_try_advisory_xact_lock(\(Self.advisoryLockKey))",
                            logger: logger
                        ).decode(Bool.self) {
                            acquired = value
                        }
                        guard acquired else { return .busy }
                        // SET LOCAL: the lock wait applies to this transaction's ANALYZE only.
                        try await connection.query(
                            PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(milliseconds)ms'"),
                            logger: logger
                        ).drain()
                        // `table` is one of the constant names in `tables`, never input.
                        try await connection.query(PostgresQuery(unsafeSQL: "ANALYZE \(table)"), logger: logger)
                            .drain()
                        return .analysed
                    }
                } catch let error as PostgresTransactionError
                    where (error.closureError as? PSQLError).flatMap(SQLState.init) == .lockNotAvailable
                {
                    return .busy
                }
            }
        }
    }

    /// Looks every ``interval`` until the service group shuts down (or the task is cancelled). The first round that
    /// fails after one that worked is logged as a warning (the database away, a role that lost a privilege), later
    /// failures at debug level; the next round tries again.
    public func run() async {
        // Ends at once when the group shuts down gracefully, not after the current sleep.
        try? await cancelWhenGracefulShutdown {
            var lastRoundFailed = false
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    try await refresh()
                    lastRoundFailed = false
                } catch {
                    if Task.isCancelled { return }
                    let level: Logger.Level = lastRoundFailed ? .debug : .warning
                    logger.log(
                        level: level,
                        "planner statistics: no check this round; the next one tries again",
                        metadata: ["error": "\(String(reflecting: error))"]
                    )
                    lastRoundFailed = true
                }
            }
        }
    }
}
