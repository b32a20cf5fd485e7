import Foundation
import Logging
import PostgresNIO
import Synchronization
import TimesheetDomain

/// The PostgreSQL system of record for timesheet entries.
///
/// Every value is a bound parameter. The 24-hour rule is the database's: a trigger keeps each user-day's counted
/// hours in `timesheet_day_totals`, whose CHECK refuses a day above 24 (migration 0002), so a new entry is one
/// INSERT and concurrent writers to one day queue on that day's row. A refusal is phrased by ``DailyLimit`` from the
/// day's recorded hours. Edits and deletions load the entry `FOR UPDATE` inside one transaction, so the domain's
/// rules see the entry as it is. Every operation finishes within `queryTimeout` or throws
/// ``StoreError/unavailable(_:underlying:)``.
///
/// The pools must be running (``PostgresPools/run()`` in the service group) for queries to work.
public struct PostgresTimesheetRepository: TimesheetRepository {
    public let pools: PostgresPools
    public let queryTimeout: Duration
    private let logger: Logger

    /// The pool of the event loop this call runs on (see ``PostgresPools``).
    private var client: PostgresClient { pools.current }

    /// - Parameters:
    ///   - client: A running connection pool, e.g. from ``makeClient(_:backgroundLogger:)``.
    ///   - queryTimeout: The longest any one call may take, waiting for a connection included.
    public init(
        client: PostgresClient,
        queryTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "TimesheetStore")
    ) {
        self.init(pools: PostgresPools(single: client), queryTimeout: queryTimeout, logger: logger)
    }

    public init(
        pools: PostgresPools,
        queryTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "TimesheetStore")
    ) {
        self.pools = pools
        self.queryTimeout = queryTimeout
        self.logger = logger
    }

    /// A repository on pools made from `configuration` (one per event loop unless `pool_per_event_loop=false`);
    /// run ``pools`` before use.
    public init(configuration: DatabaseConfiguration, logger: Logger = Logger(label: "TimesheetStore")) throws {
        self.init(
            pools: try PostgresPools(configuration: configuration, logger: logger),
            queryTimeout: configuration.queryTimeout,
            logger: logger
        )
    }

    /// A connection pool for `configuration`, with `statement_timeout` set on every connection.
    public static func makeClient(
        _ configuration: DatabaseConfiguration,
        backgroundLogger: Logger
    ) throws
        -> PostgresClient
    {
        PostgresClient(configuration: try configuration.makeClientConfiguration(), backgroundLogger: backgroundLogger)
    }

    /// Succeeds when the database answers; for readiness checks.
    public func ping() async throws {
        try await perform { try await client.query("SELECT 1", logger: logger).drain() }
    }

    // MARK: TimesheetRepository

    public func insert(_ entries: [NewTimesheet], at now: Date) async throws -> [Timesheet] {
        guard !entries.isEmpty else { return [] }
        if entries.count == 1 { return [try await insert(entries[0], at: now)] }
        return try await performRespectingDailyLimit(
            explain: { try await self.explainRefusal(of: entries) },
            {
                // Ids first, in input order; then one multi-row INSERT, which is atomic on its own. Rows go in sorted
                // by user-day, so the trigger locks day rows in one global order and overlapping batches never
                // deadlock. A refused batch leaves a gap in the ids, which are never reused anyway.
                var ids: [Int64] = []
                let idRows = try await client.query(
                    """
                    SELECT array_agg(nextval(pg_get_serial_sequence('timesheets', 'id')))
                    FROM generate_series(1, \(Int32(entries.count)))
                    """,
                    logger: logger
                )
                for try await batch in idRows.decode([Int64].self) { ids = batch }
                ids.sort()
                guard ids.count == entries.count else {
                    throw StoreError.unexpected(underlying: UnexpectedIDCount(expected: entries.count, got: ids.count))
                }
                let users = entries.map(\.userID)
                let days = entries.map { Int32($0.date.daysSinceEpoch) }
                let projects = entries.map(\.project)
                let hundredths = entries.map { Int32($0.hours.hundredths) }
                let notes = entries.map { $0.notes ?? "" }
                let hasNotes = entries.map { $0.notes != nil }
                try await client.query(
                    """
                    INSERT INTO timesheets (id, user_id, work_date, project, hours, notes, created_at, updated_at)
                    OVERRIDING SYSTEM VALUE
                    SELECT i, u, DATE '1970-01-01' + d, p, h::numeric / 100, CASE WHEN hn THEN n END, \(now), \(now)
                    FROM unnest(\(ids)::int8[], \(users)::text[], \(days)::int4[], \(projects)::text[],
                                \(hundredths)::int4[], \(notes)::text[], \(hasNotes)::bool[]) AS t(i, u, d, p, h, n, hn)
                    ORDER BY u, d, i
                    """,
                    logger: logger
                ).drain()
                return zip(ids, entries).map { id, entry in entry.stored(as: TimesheetID(id), at: now) }
            }
        )
    }

    /// One entry (`POST /timesheets`): one prepared INSERT, one round trip, no explicit transaction. The daily limit
    /// is the database's CHECK on the user-day's total (migration 0002); only a refusal costs a second query, to
    /// phrase it with the day's recorded hours.
    private func insert(_ entry: NewTimesheet, at now: Date) async throws -> Timesheet {
        try await performRespectingDailyLimit(
            explain: { try await self.explainRefusal(of: [entry]) },
            {
                var id: Int64?
                for try await inserted in try await client.execute(
                    InsertEntryStatement(entry: entry, now: now),
                    logger: logger
                ) {
                    id = inserted
                }
                guard let id else { throw StoreError.unexpected(underlying: UnexpectedIDCount(expected: 1, got: 0)) }
                return entry.stored(as: TimesheetID(id), at: now)
            }
        )
    }

    /// The domain's refusal for entries the database refused: ``DailyLimit`` over the user-days' recorded hours. `nil`
    /// when they fit now (another writer made room in between), so the caller tries again.
    private func explainRefusal(of entries: [NewTimesheet]) async throws -> TimesheetError? {
        let users = entries.map(\.userID)
        let days = entries.map { Int32($0.date.daysSinceEpoch) }
        let rows = try await client.query(
            """
            SELECT t.user_id, t.work_date - DATE '1970-01-01', (t.hours * 100)::int4
            FROM timesheet_day_totals AS t
            JOIN (SELECT DISTINCT u, d FROM unnest(\(users)::text[], \(days)::int4[]) AS r(u, d)) AS r
              ON t.user_id = r.u AND t.work_date = DATE '1970-01-01' + r.d
            """,
            logger: logger
        )
        var recorded: [UserDay: Hours] = [:]
        for try await (user, day, hundredths) in rows.decode((String, Int, Int).self) {
            recorded[UserDay(userID: user, date: CalendarDay(daysSinceEpoch: day))] = Hours(hundredths: hundredths)
        }
        do {
            try DailyLimit.check(entries, recorded: recorded)
            return nil
        } catch {
            return error
        }
    }

    public func entry(_ id: TimesheetID) async throws -> Timesheet? {
        try await perform {
            let rows = try await client.query(
                "SELECT \(unescaped: Self.columns) FROM timesheets WHERE id = \(id.rawValue)",
                logger: logger
            )
            return try await Self.decode(rows).first
        }
    }

    public func entries(_ query: TimesheetQuery) async throws -> [Timesheet] {
        guard query.limit > 0 else { return [] }
        // The two most frequent pages run as prepared statements.
        if query.from == nil, query.to == nil, query.project == nil {
            switch (query.order, query.userID, query.status, query.after) {
            case (.newestDayFirst, let userID?, nil, nil):
                return try await perform {
                    try await client.execute(FirstPageStatement(userID: userID, limit: query.limit), logger: logger)
                        .reduce(into: []) { $0.append($1) }
                }
            case (.oldestFirst, nil, .pending, let after):
                return try await perform {
                    try await client.execute(
                        PendingPageStatement(afterID: after?.id.rawValue ?? 0, limit: query.limit),
                        logger: logger
                    ).reduce(into: []) { $0.append($1) }
                }
            default:
                break
            }
        }
        // Fixed fragments, bound values. Status is a closed enum written as a literal so the partial index applies.
        var sql = PostgresQuery.StringInterpolation(literalCapacity: 512, interpolationCount: 8)
        sql.appendLiteral("SELECT \(Self.columns) FROM timesheets WHERE true")
        if let userID = query.userID {
            sql.appendLiteral(" AND user_id = ")
            sql.appendInterpolation(userID)
        }
        if let from = query.from {
            sql.appendLiteral(" AND work_date >= DATE '1970-01-01' + ")
            sql.appendInterpolation(Int32(from.daysSinceEpoch))
        }
        if let to = query.to {
            sql.appendLiteral(" AND work_date <= DATE '1970-01-01' + ")
            sql.appendInterpolation(Int32(to.daysSinceEpoch))
        }
        if let project = query.project {
            sql.appendLiteral(" AND project = ")
            sql.appendInterpolation(project)
        }
        if let status = query.status {
            sql.appendLiteral(" AND status = '\(Self.literal(status))'")
        }
        switch query.order {
        case .newestDayFirst:
            if let after = query.after {
                sql.appendLiteral(" AND (work_date, id) < (DATE '1970-01-01' + ")
                sql.appendInterpolation(Int32(after.date.daysSinceEpoch))
                sql.appendLiteral(", ")
                sql.appendInterpolation(after.id.rawValue)
                sql.appendLiteral(")")
            }
            sql.appendLiteral(" ORDER BY work_date DESC, id DESC")
        case .oldestFirst:
            if let after = query.after {
                sql.appendLiteral(" AND id > ")
                sql.appendInterpolation(after.id.rawValue)
            }
            sql.appendLiteral(" ORDER BY id")
        }
        sql.appendLiteral(" LIMIT ")
        sql.appendInterpolation(query.limit)
        let statement = PostgresQuery(stringInterpolation: sql)
        return try await perform {
            try await Self.decode(try await client.query(statement, logger: logger))
        }
    }

    public func update(
        _ id: TimesheetID,
        _ change: @escaping @Sendable (Timesheet) throws -> Timesheet
    ) async throws
        -> Timesheet?
    {
        // What the entry became, for phrasing a refusal of the daily limit; set while the entry is held.
        let attempted = Mutex<(before: Timesheet, after: Timesheet)?>(nil)
        return try await performRespectingDailyLimit(
            explain: {
                guard let (before, after) = attempted.withLock({ $0 }) else { return nil }
                return try await self.explainRefusal(of: after, replacing: before)
            },
            {
                try await inTransaction { connection -> Timesheet? in
                    guard let current = try await Self.lockedEntry(id, on: connection, logger: logger) else {
                        return nil
                    }
                    let changed = try change(current)
                    guard changed != current else { return current }
                    attempted.withLock { $0 = (current, changed) }
                    // The trigger moves the hours between user-days; the CHECK refuses a day above 24 hours.
                    let daysSinceEpoch = Int32(changed.date.daysSinceEpoch)
                    let rows = try await connection.query(
                        """
                        UPDATE timesheets SET
                            user_id = \(changed.userID), work_date = DATE '1970-01-01' + \(daysSinceEpoch),
                            project = \(changed.project), hours = \(Int32(changed.hours.hundredths))::numeric / 100,
                            notes = \(changed.notes), status = \(changed.status.rawValue),
                            created_at = \(changed.createdAt), updated_at = \(changed.updatedAt),
                            reviewed_by = \(changed.reviewedBy), reviewed_at = \(changed.reviewedAt),
                            rejection_reason = \(changed.rejectionReason)
                        WHERE id = \(id.rawValue)
                        RETURNING \(unescaped: Self.columns)
                        """,
                        logger: logger
                    )
                    return try await Self.decode(rows).first
                }
            }
        )
    }

    /// The refusal of an edit that `before` became `after`: the new day's hours without this entry's own.
    private func explainRefusal(of after: Timesheet, replacing before: Timesheet) async throws -> TimesheetError? {
        let day = UserDay(userID: after.userID, date: after.date)
        let rows = try await client.query(
            """
            SELECT (hours * 100)::int4 FROM timesheet_day_totals
            WHERE user_id = \(day.userID) AND work_date = DATE '1970-01-01' + \(Int32(day.date.daysSinceEpoch))
            """,
            logger: logger
        )
        var recorded = Hours.zero
        for try await hundredths in rows.decode(Int.self) { recorded = Hours(hundredths: hundredths) }
        if before.userID == after.userID, before.date == after.date, before.status != .rejected {
            recorded = Hours(hundredths: recorded.hundredths - before.hours.hundredths)
        }
        do {
            try DailyLimit.check(day, recorded: recorded, adding: after.hours)
            return nil
        } catch {
            return error
        }
    }

    public func delete(_ id: TimesheetID, _ check: @escaping @Sendable (Timesheet) throws -> Void) async throws -> Bool
    {
        try await perform {
            try await inTransaction { connection -> Bool in
                guard let current = try await Self.lockedEntry(id, on: connection, logger: logger) else {
                    return false
                }
                try check(current)
                try await connection.query("DELETE FROM timesheets WHERE id = \(id.rawValue)", logger: logger)
                    .drain()
                return true
            }
        }
    }

    public func dailyTotals(userID: String, from: CalendarDay, to: CalendarDay) async throws -> [DailyProjectHours] {
        try await perform {
            let rows = try await client.query(
                """
                SELECT work_date - DATE '1970-01-01', project, (sum(hours) * 100)::int4
                FROM timesheets
                WHERE user_id = \(userID) AND status <> 'rejected'
                  AND work_date BETWEEN DATE '1970-01-01' + \(Int32(from.daysSinceEpoch))
                                    AND DATE '1970-01-01' + \(Int32(to.daysSinceEpoch))
                GROUP BY work_date, project
                """,
                logger: logger
            )
            var totals: [DailyProjectHours] = []
            for try await (day, project, hundredths) in rows.decode((Int, String, Int).self) {
                totals.append(
                    DailyProjectHours(
                        date: CalendarDay(daysSinceEpoch: day),
                        project: project,
                        hours: Hours(hundredths: hundredths)
                    )
                )
            }
            return totals.sorted { ($0.date, $0.project) < ($1.date, $1.project) }
        }
    }

    public func hoursReport(_ request: HoursReportRequest) async throws -> HoursReportRows {
        let statement = HoursReportQuery.statement(for: request)
        let rows = try await perform { try await client.query(statement, logger: logger) }
        return HoursReportRows(HoursReportRowSequence(rows: rows, dimensions: request.groupBy, logger: logger))
    }

    // MARK: SQL pieces

    static let columns = """
        id, user_id, work_date - DATE '1970-01-01', project, (hours * 100)::int4, notes, status, \
        created_at, updated_at, reviewed_by, reviewed_at, rejection_reason
        """

    private static func literal(_ status: TimesheetStatus) -> String {
        switch status {
        case .pending: "pending"
        case .approved: "approved"
        case .rejected: "rejected"
        }
    }

    private static func decode(_ rows: PostgresRowSequence) async throws -> [Timesheet] {
        var result: [Timesheet] = []
        for try await row in rows {
            result.append(try timesheet(row))
        }
        return result
    }

    /// One row of ``columns``.
    static func timesheet(_ row: PostgresRow) throws -> Timesheet {
        if let timesheet = TimesheetRowDecoder.timesheet(row) { return timesheet }
        let (
            id, userID, day, project, hundredths, notes, status, createdAt, updatedAt, reviewedBy, reviewedAt, reason
        ) =
            try row.decode(
                (Int64, String, Int, String, Int, String?, String, Date, Date, String?, Date?, String?).self
            )
        guard let status = TimesheetStatus(rawValue: status) else {
            throw StoreError.unexpected(underlying: UnknownStatus(value: status))
        }
        return Timesheet(
            id: TimesheetID(id),
            userID: userID,
            date: CalendarDay(daysSinceEpoch: day),
            project: project,
            hours: Hours(hundredths: hundredths),
            notes: notes,
            status: status,
            createdAt: createdAt,
            updatedAt: updatedAt,
            reviewedBy: reviewedBy,
            reviewedAt: reviewedAt,
            rejectionReason: reason
        )
    }

    private struct UnexpectedIDCount: Error {
        var expected: Int
        var got: Int
    }

    private struct UnknownStatus: Error {
        var value: String
    }

    private static func lockedEntry(
        _ id: TimesheetID,
        on connection: PostgresConnection,
        logger: Logger
    )
        async throws -> Timesheet?
    {
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM timesheets WHERE id = \(id.rawValue) FOR UPDATE",
            logger: logger
        )
        return try await decode(rows).first
    }

    // MARK: Transactions, deadlines, errors

    /// Runs `body` in `BEGIN ... COMMIT`, rolling back and rethrowing its error unchanged when it throws.
    private func inTransaction<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger).drain()
            do {
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger).drain()
                return result
            } catch {
                do {
                    try await connection.query("ROLLBACK", logger: logger).drain()
                } catch {
                    // A connection that cannot roll back must not go back to the pool mid-transaction.
                    try? await connection.close()
                }
                throw error
            }
        }
    }

    /// Runs a write whose refusal by the daily-limit CHECK becomes the domain's conflict, phrased by `explain`.
    ///
    /// When `explain` finds the entries fit after all (another writer made room in between), or PostgreSQL broke a
    /// deadlock (two edits moving hours between the same two days in opposite directions), the write runs again, at
    /// most three times in all and always within the one deadline; after that the answer is "busy, retry" (503).
    private func performRespectingDailyLimit<Result: Sendable>(
        explain: @escaping @Sendable () async throws -> TimesheetError?,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await perform {
            var attempt = 1
            while true {
                do {
                    return try await operation()
                } catch let error as PSQLError where Self.isRetryable(error) {
                    if Self.isDailyLimitRefusal(error), let refusal = try await explain() { throw refusal }
                    guard attempt < 3 else { throw StoreError.unavailable(.contended, underlying: error) }
                    attempt += 1
                }
            }
        }
    }

    /// The daily-limit CHECK of migration 0002 refused a user-day above 24 hours (not its non-negative CHECK, which
    /// would mean the totals drifted: a bug, reported as such).
    static func isDailyLimitRefusal(_ error: PSQLError) -> Bool {
        error.code == .server && error.serverInfo?[.sqlState] == "23514"
            && error.serverInfo?[.constraintName] == "timesheet_day_totals_daily_limit"
    }

    /// A refusal that may pass on a second try, or a deadlock PostgreSQL broke by cancelling this write.
    private static func isRetryable(_ error: PSQLError) -> Bool {
        isDailyLimitRefusal(error) || (error.code == .server && error.serverInfo?[.sqlState] == "40P01")
    }

    /// Runs one store operation within the deadline and turns driver errors into ``StoreError``.
    private func perform<Result: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws
        -> Result
    {
        do {
            return try await withDeadline(queryTimeout, operation)
        } catch let error as TimesheetError {
            throw error
        } catch let error as StoreError {
            logger.error("database error", metadata: ["error": "\(String(reflecting: error.underlyingError as Any))"])
            throw error
        } catch {
            let mapped = StoreError(classifying: error)
            logger.error(
                "database error",
                metadata: ["error": "\(String(reflecting: error))", "mapped": "\(mapped.description)"]
            )
            throw mapped
        }
    }
}

extension PostgresRowSequence {
    /// Reads and discards every row, so the statement completes before the next one.
    func drain() async throws {
        for try await _ in self {}
    }
}
