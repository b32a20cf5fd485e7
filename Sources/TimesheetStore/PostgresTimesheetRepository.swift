import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import TimesheetDomain

/// The PostgreSQL system of record for timesheet entries.
///
/// Every value is a bound parameter. The 24-hour rule is the database's: a trigger keeps each user-day's counted
/// hours in `timesheet_day_totals`, whose CHECK refuses a day above 24 (migration 0002), so a new entry is one
/// INSERT and concurrent writers to one day queue on that day's row. A refusal is phrased by ``DailyLimit`` from the
/// day's recorded hours. Edits and deletions load the entry `FOR UPDATE` inside one transaction, so the domain's
/// rules see the entry as it is. Every change writes its ``TimesheetEvent`` to `timesheet_events` in the same statement
/// (a data-modifying CTE), so a change and its event commit together without another round trip (migration 0003).
/// Every operation finishes within `queryTimeout` or throws ``StoreError/unavailable(_:underlying:)``.
///
/// The pools must be running (``PostgresPools/run()`` in the service group) for queries to work.
public struct PostgresTimesheetRepository: TimesheetRepository {
    public let pools: PostgresPools
    public let queryTimeout: Duration
    /// Where reads may go instead of the primary (`DATABASE_READ_URL`); `nil`: every read goes to the primary.
    public var standby: StandbyReads? {
        didSet {
            if let standby, batchers.batchesReads { batchers = batchers.adding(pageReadsOn: standby.standby.clients) }
        }
    }
    /// The hottest page reads and single inserts, batched per pool while it is busy (``StatementBatcher``); none
    /// with `batch_reads=false` and `batch_creates=false`.
    private(set) var batchers: Batchers
    private let logger: Logger

    /// The pool of the event loop this call runs on (see ``PostgresPools``).
    private var client: PostgresClient { pools.current }

    /// - Parameters:
    ///   - client: A running connection pool, e.g. from ``makeClient(_:backgroundLogger:)``.
    ///   - queryTimeout: The longest any one call may take, waiting for a connection included.
    ///   - batchesReads: Whether reads of the hottest pages that wait for a busy pool are answered together.
    ///   - batchesCreates: Whether single new entries that wait for a busy pool are inserted together.
    public init(
        client: PostgresClient,
        queryTimeout: Duration = .seconds(5),
        batchesReads: Bool = true,
        batchesCreates: Bool = true,
        logger: Logger = Logger(label: "TimesheetStore")
    ) {
        self.init(
            pools: PostgresPools(single: client),
            queryTimeout: queryTimeout,
            batchesReads: batchesReads,
            batchesCreates: batchesCreates,
            logger: logger
        )
    }

    public init(
        pools: PostgresPools,
        queryTimeout: Duration = .seconds(5),
        batchesReads: Bool = true,
        batchesCreates: Bool = true,
        logger: Logger = Logger(label: "TimesheetStore")
    ) {
        self.pools = pools
        self.queryTimeout = queryTimeout
        self.batchers = Batchers(clients: pools.clients, reads: batchesReads, creates: batchesCreates)
        self.logger = logger
    }

    /// A repository on pools made from `configuration` (one per event loop unless `pool_per_event_loop=false`);
    /// run ``pools`` before use.
    public init(configuration: DatabaseConfiguration, logger: Logger = Logger(label: "TimesheetStore")) throws {
        self.init(
            pools: try PostgresPools(configuration: configuration, logger: logger),
            queryTimeout: configuration.queryTimeout,
            batchesReads: configuration.batchesReads,
            batchesCreates: configuration.batchesCreates,
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
            { try await client.withConnection { try await self.insertBatch(entries, at: now, on: $0) } }
        )
    }

    /// Ids first, in input order; then one multi-row INSERT with the entries' `created` events, which is atomic on its
    /// own. Rows go in sorted by user-day, so the trigger locks day rows in one global order and overlapping batches
    /// never deadlock. A refused batch leaves a gap in the ids, which are never reused anyway.
    private func insertBatch(
        _ entries: [NewTimesheet],
        at now: Date,
        on connection: PostgresConnection
    ) async throws -> [Timesheet] {
        var ids: [Int64] = []
        let idRows = try await connection.query(
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
        let creators = entries.map(\.createdBy)
        try await connection.query(
            """
            WITH entries AS (
                INSERT INTO timesheets (id, user_id, work_date, project, hours, notes, created_by, created_at,
                                        updated_at)
                OVERRIDING SYSTEM VALUE
                SELECT i, u, DATE '1970-01-01' + d, p, h::numeric / 100, CASE WHEN hn THEN n END, c, \(now), \(now)
                FROM unnest(\(ids)::int8[], \(users)::text[], \(days)::int4[], \(projects)::text[],
                            \(hundredths)::int4[], \(notes)::text[], \(hasNotes)::bool[], \(creators)::text[])
                     AS t(i, u, d, p, h, n, hn, c)
                ORDER BY u, d, i
                RETURNING id, user_id, created_by
            )
            INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
            SELECT id, user_id, 'created', created_by, \(now) FROM entries ORDER BY id
            """,
            logger: logger
        ).drain()
        return zip(ids, entries).map { id, entry in entry.stored(as: TimesheetID(id), at: now) }
    }

    /// ``insert(_:at:)`` under an idempotency key, in one transaction: claim the key, insert the entries and their
    /// events, record the answer, commit. A crash before the commit leaves neither entries nor key; after it, both.
    /// A request whose key another transaction holds waits on the key's row until that one commits (then replays its
    /// answer) or rolls back (then claims the key itself), so two requests under one key never both write. Only this
    /// path pays for the key (four round trips more than ``insert(_:at:)``); requests without a key never touch it.
    public func insert(
        _ entries: [NewTimesheet],
        at now: Date,
        idempotent request: IdempotentRequest
    ) async throws -> IdempotentOutcome {
        try await performRespectingDailyLimit(
            explain: { try await self.explainRefusal(of: entries) },
            {
                try await inTransaction { connection -> IdempotentOutcome in
                    if let recorded = try await claim(request, at: now, on: connection) {
                        return .replayed(recorded)
                    }
                    let stored: [Timesheet]
                    if entries.count == 1 {
                        stored = [try await insertOne(entries[0], at: now, on: connection)]
                    } else {
                        stored = try await insertBatch(entries, at: now, on: connection)
                    }
                    let answer = try request.answer(stored)
                    try await connection.query(
                        """
                        UPDATE idempotency_keys SET status = \(Int16(clamping: answer.status)),
                            location = \(answer.location), body = \(ByteBuffer(bytes: answer.body))
                        WHERE caller_id = \(request.scope) AND key = \(request.key)
                        """,
                        logger: logger
                    ).drain()
                    return .written(stored, answer)
                }
            }
        )
    }

    /// Claims `request`'s key for this transaction (`nil`), or returns the answer recorded under it. A key past its
    /// lifetime is claimed afresh; with each claim, up to 100 other expired keys (anyone's) are purged.
    private func claim(
        _ request: IdempotentRequest,
        at now: Date,
        on connection: PostgresConnection
    ) async throws -> RecordedAnswer? {
        let expires = now.addingTimeInterval(request.lifetime)
        // ON CONFLICT DO UPDATE waits for a transaction holding the key, then locks the key's row even when its WHERE
        // (expired) is false, so the answer read below is the committed one and stays put until this commits.
        let claimed = try await connection.query(
            """
            WITH purged AS (
                DELETE FROM idempotency_keys WHERE (caller_id, key) IN (
                    SELECT caller_id, key FROM idempotency_keys
                    WHERE expires_at <= \(now) AND NOT (caller_id = \(request.scope) AND key = \(request.key))
                    ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED
                )
            )
            INSERT INTO idempotency_keys AS k (caller_id, key, operation, request_sha256, created_at, expires_at)
            VALUES (\(request.scope), \(request.key), \(request.operation), \(ByteBuffer(bytes: request.digest)),
                    \(now), \(expires))
            ON CONFLICT (caller_id, key) DO UPDATE SET
                operation = EXCLUDED.operation, request_sha256 = EXCLUDED.request_sha256, status = NULL,
                location = NULL, body = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
            WHERE k.expires_at <= EXCLUDED.created_at
            RETURNING 1
            """,
            logger: logger
        )
        var won = false
        for try await _ in claimed { won = true }
        if won { return nil }
        let rows = try await connection.query(
            """
            SELECT operation, request_sha256, status, location, body FROM idempotency_keys
            WHERE caller_id = \(request.scope) AND key = \(request.key)
            """,
            logger: logger
        )
        for try await (operation, digest, status, location, body) in rows.decode(
            (String, ByteBuffer, Int16?, String?, ByteBuffer?).self
        ) {
            guard operation == request.operation, Array(digest.readableBytesView) == request.digest else {
                throw TimesheetError.idempotencyKeyReused(key: request.key)
            }
            guard let status, let body else { break }
            return RecordedAnswer(status: Int(status), location: location, body: Array(body.readableBytesView))
        }
        // A committed key always holds its answer (migration 0003): anything else is a bug, never the client's.
        throw StoreError.unexpected(underlying: UnansweredKey())
    }

    /// One entry (`POST /timesheets`): one prepared INSERT, one round trip, no explicit transaction; while the pool
    /// is busy, with the other single entries waiting for it (``insertEntries(_:on:logger:)``). The daily limit is
    /// the database's CHECK on the user-day's total (migration 0002); only a refusal costs a second query, to phrase
    /// it with the day's recorded hours.
    private func insert(_ entry: NewTimesheet, at now: Date) async throws -> Timesheet {
        try await performRespectingDailyLimit(
            explain: { try await self.explainRefusal(of: [entry]) },
            { [batchers, logger, pools] in
                let client = pools.current
                guard let batcher = batchers.newEntries(on: client) else {
                    return try await Self.stored(
                        entry,
                        at: now,
                        ids: try await client.execute(InsertEntryStatement(entry: entry, now: now), logger: logger)
                    )
                }
                // A call per attempt: a retry after a refusal joins a later batch.
                let id = try await batcher.load(NewEntryCall(entry, at: now)) { takeCalls in
                    try await client.withConnection { connection in
                        try await Self.insertEntries(takeCalls(), on: connection, logger: logger)
                    }
                }
                return entry.stored(as: TimesheetID(id), at: now)
            }
        )
    }

    /// The same prepared INSERT on a connection inside a transaction.
    private func insertOne(
        _ entry: NewTimesheet,
        at now: Date,
        on connection: PostgresConnection
    ) async throws
        -> Timesheet
    {
        try await Self.stored(
            entry,
            at: now,
            ids: try await connection.execute(InsertEntryStatement(entry: entry, now: now), logger: logger)
        )
    }

    /// The entry as stored under the id its INSERT returned.
    private static func stored<IDs: AsyncSequence>(
        _ entry: NewTimesheet,
        at now: Date,
        ids: IDs
    ) async throws -> Timesheet where IDs.Element == Int64 {
        var id: Int64?
        for try await inserted in ids { id = inserted }
        guard let id else { throw StoreError.unexpected(underlying: UnexpectedIDCount(expected: 1, got: 0)) }
        return entry.stored(as: TimesheetID(id), at: now)
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
        try await read { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.columns) FROM timesheets WHERE id = \(id.rawValue)",
                logger: logger
            )
            return try await Self.decode(rows).first
        }
    }

    public func entries(_ query: TimesheetQuery) async throws -> [Timesheet] {
        guard query.limit > 0 else { return [] }
        // The two most frequent pages run as prepared statements, up to the largest page they return.
        if query.from == nil, query.to == nil, query.project == nil, query.limit <= PageStatementSQL.maximumRows {
            switch (query.order, query.userID, query.status, query.after) {
            case (.newestDayFirst, let userID?, nil, nil):
                let key = FirstPageKey(userID: userID, limit: query.limit)
                return try await read { [batchers, logger] client in
                    guard let batcher = batchers.firstPages(on: client) else {
                        return try await client.execute(
                            FirstPageStatement(userID: userID, limit: key.limit),
                            logger: logger
                        )
                        .reduce(into: Self.emptyPage(of: key.limit)) { $0.append($1) }
                    }
                    return try await batcher.load(key) { takeKeys in
                        try await client.withConnection { connection in
                            try await Self.firstPages(takeKeys(), on: connection, logger: logger)
                        }
                    }
                }
            case (.oldestFirst, nil, .pending, let after):
                let key = PendingPageKey(afterID: after?.id.rawValue ?? 0, limit: query.limit)
                return try await read { [batchers, logger] client in
                    guard let batcher = batchers.pendingPages(on: client) else {
                        return try await client.execute(
                            PendingPageStatement(afterID: key.afterID, limit: key.limit),
                            logger: logger
                        ).reduce(into: Self.emptyPage(of: key.limit)) { $0.append($1) }
                    }
                    return try await batcher.load(key) { takeKeys in
                        try await client.withConnection { connection in
                            try await Self.pendingPages(takeKeys(), on: connection, logger: logger)
                        }
                    }
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
        return try await read { client in
            try await Self.decode(try await client.query(statement, logger: logger))
        }
    }

    public func update(
        _ id: TimesheetID,
        by actor: String,
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
                    guard changed != current,
                        let event = TimesheetEvent.change(from: current, to: changed, by: actor)
                    else { return current }
                    attempted.withLock { $0 = (current, changed) }
                    // The trigger moves the hours between user-days; the CHECK refuses a day above 24 hours. The event
                    // goes in with the change, in the same statement.
                    let daysSinceEpoch = Int32(changed.date.daysSinceEpoch)
                    let rows = try await connection.query(
                        """
                        WITH changed AS (
                            UPDATE timesheets SET
                                user_id = \(changed.userID), work_date = DATE '1970-01-01' + \(daysSinceEpoch),
                                project = \(changed.project), hours = \(Int32(changed.hours.hundredths))::numeric / 100,
                                notes = \(changed.notes), status = \(changed.status.rawValue),
                                created_at = \(changed.createdAt), updated_at = \(changed.updatedAt),
                                reviewed_by = \(changed.reviewedBy), reviewed_at = \(changed.reviewedAt),
                                rejection_reason = \(changed.rejectionReason), created_by = \(changed.createdBy)
                            WHERE id = \(id.rawValue)
                            RETURNING \(unescaped: Self.columns)
                        ), event AS (
                            INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at, before, after, reason)
                            SELECT \(id.rawValue), \(event.ownerID), \(event.action.rawValue), \(event.actor),
                                   \(event.at), \(try StoredFields.json(event.before))::jsonb,
                                   \(try StoredFields.json(event.after))::jsonb, \(event.reason)
                            FROM changed
                        )
                        SELECT * FROM changed
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

    public func delete(
        _ id: TimesheetID,
        by actor: String,
        at now: Date,
        _ check: @escaping @Sendable (Timesheet) throws -> Void
    ) async throws -> Bool {
        try await perform {
            try await inTransaction { connection -> Bool in
                guard let current = try await Self.lockedEntry(id, on: connection, logger: logger) else {
                    return false
                }
                try check(current)
                let event = TimesheetEvent.deleted(current, by: actor, at: now)
                try await connection.query(
                    """
                    WITH gone AS (DELETE FROM timesheets WHERE id = \(id.rawValue) RETURNING id, user_id)
                    INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
                    SELECT id, user_id, 'deleted', \(event.actor), \(event.at) FROM gone
                    """,
                    logger: logger
                ).drain()
                return true
            }
        }
    }

    /// An entry the release before migration 0003 recorded while this one rolled out has no `created` event (and a
    /// NULL `created_by`): its creation is told from its own columns, so every live entry's history starts with it.
    public func history(of id: TimesheetID) async throws -> [TimesheetEvent] {
        var events = try await recordedHistory(of: id)
        if events.first?.action != .created, let entry = try await entry(id) {
            events.insert(.created(entry), at: 0)
        }
        return events
    }

    private func recordedHistory(of id: TimesheetID) async throws -> [TimesheetEvent] {
        try await perform {
            let rows = try await client.query(
                """
                SELECT owner_id, action, actor, at, before::text, after::text, reason
                FROM timesheet_events WHERE entry_id = \(id.rawValue) ORDER BY id
                """,
                logger: logger
            )
            var events: [TimesheetEvent] = []
            for try await (owner, action, actor, at, before, after, reason) in rows.decode(
                (String, String, String, Date, String?, String?, String?).self
            ) {
                guard let action = TimesheetAction(rawValue: action) else {
                    throw StoreError.unexpected(underlying: UnknownStatus(value: action))
                }
                events.append(
                    TimesheetEvent(
                        entryID: id,
                        ownerID: owner,
                        action: action,
                        actor: actor,
                        at: at,
                        before: try StoredFields.fields(before),
                        after: try StoredFields.fields(after),
                        reason: reason
                    )
                )
            }
            return events
        }
    }

    /// Reads the user's days through the list index and the entries' rows (migration 0007 dropped the index this
    /// alone used, which every write paid for).
    public func dailyTotals(userID: String, from: CalendarDay, to: CalendarDay) async throws -> [DailyProjectHours] {
        try await read { client in
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
        // A report may go to the standby like the lists: its rows stream from whichever server took the query.
        let rows = try await read { client in try await client.query(statement, logger: logger) }
        return HoursReportRows(batches: HoursReportBatches(rows: rows, dimensions: request.groupBy, logger: logger))
    }

    // MARK: SQL pieces

    static let columns = """
        id, user_id, work_date - DATE '1970-01-01', project, (hours * 100)::int4, notes, status, \
        created_at, updated_at, reviewed_by, reviewed_at, rejection_reason, coalesce(created_by, user_id)
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
            id, userID, day, project, hundredths, notes, status, createdAt, updatedAt, reviewedBy, reviewedAt, reason,
            createdBy
        ) =
            try row.decode(
                (Int64, String, Int, String, Int, String?, String, Date, Date, String?, Date?, String?, String).self
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
            rejectionReason: reason,
            createdBy: createdBy
        )
    }

    struct UnexpectedIDCount: Error {
        var expected: Int
        var got: Int
    }

    private struct UnknownStatus: Error {
        var value: String
    }

    /// A committed idempotency key without its answer, which migration 0003's design rules out.
    private struct UnansweredKey: Error {}

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

    /// Runs a read on the standby when ``standby`` allows it for this caller (``ReadSession``), else on the primary.
    /// A read the standby fails for a reason of its own (unreachable, not ready, a query cancelled by a conflict with
    /// recovery) runs again on the primary, and the standby is skipped until its monitor sees it answer. A read that
    /// timed out is not run again: it would take a second full query timeout, and would likely be as slow there.
    private func read<Result: Sendable>(
        _ operation: @escaping @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        if let standby, let replica = standby.client(forReadBy: ReadSession.callerID) {
            do {
                return try await perform { try await operation(replica) }
            } catch let error as StoreError where StandbyReads.isStandbysFault(error) {
                standby.standbyFailed(error)
            }
        }
        return try await perform { [pools] in try await operation(pools.current) }
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
        } catch {
            throw StoreError.logged(error, to: logger)
        }
    }
}

extension PostgresRowSequence {
    /// Reads and discards every row, so the statement completes before the next one.
    func drain() async throws {
        for try await _ in self {}
    }
}
