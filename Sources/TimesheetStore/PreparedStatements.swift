import Foundation
import PostgresNIO
import TimesheetDomain

// The statements of the hottest requests, prepared once per pooled connection: an unnamed statement is parsed and
// planned on every call, and planning cost PostgreSQL about as much CPU as running these queries (scripts/bench,
// EXPLAIN ANALYZE: 1 ms planning, 0.3 ms execution for the daily sum). Their SQL matches the dynamic statements
// of PostgresTimesheetRepository that they replace for these shapes. Each names itself with a constant: PostgresNIO's
// default name is `String(reflecting: Self.self)`, built again on every execution (0.6% of the list route's CPU).

/// The SQL of a prepared page of entries: the rows `filter` matches, in `order`, `$2` of them.
///
/// The inner `LIMIT` is a constant so that PostgreSQL keeps one plan for the statement. With only `LIMIT $2`, the
/// generic plan is costed for a tenth of the rows the filter matches (the planner's guess for a limit it cannot see);
/// where that is more than a page, it loses to a plan made for the bound values, and every execution was planned
/// again: for the review queue that cost PostgreSQL about 35 µs per request through the server, a third of the
/// route's database time (benchmarks/results/README.md). The outer `LIMIT $2` stops the index scan after the page.
enum PageStatementSQL {
    /// The most rows one execution returns: a page of 100 (the default is 50) and the row that tells there is more.
    /// Larger pages take the dynamic statement.
    static let maximumRows = 101

    static func select(where filter: String, orderedBy order: String) -> String {
        """
        SELECT \(TimesheetRecordDecoder.selectList) FROM (
            SELECT * FROM timesheets WHERE \(filter) ORDER BY \(order) LIMIT \(maximumRows)
        ) AS page ORDER BY \(order) LIMIT $2
        """
    }
}

/// A user's first page, latest day first (`GET /timesheets` without filters or cursor).
struct FirstPageStatement: PostgresPreparedStatement {
    static let name = "timesheets_first_page"
    typealias Row = Timesheet
    static let sql = PageStatementSQL.select(where: "user_id = $1", orderedBy: "work_date DESC, id DESC")
    var userID: String
    var limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(userID)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Timesheet { try TimesheetRecordDecoder.timesheet(row) }
}

/// The review queue's page, oldest pending entry first after an id (`GET /approvals`; 0 for the first page).
struct PendingPageStatement: PostgresPreparedStatement {
    static let name = "timesheets_pending_page"
    typealias Row = Timesheet
    static let sql = PageStatementSQL.select(where: "status = 'pending' AND id > $1", orderedBy: "id")
    var afterID: Int64
    var limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(afterID)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Timesheet { try TimesheetRecordDecoder.timesheet(row) }
}

/// Inserts one entry with its `created` event and returns its id (`POST /timesheets`): one statement, one round
/// trip, the event committed with the entry (migration 0003). The daily limit is the database's: the trigger of
/// migration 0002 adds the hours to the user-day's total, whose CHECK refuses more than 24.
struct InsertEntryStatement: PostgresPreparedStatement {
    static let name = "timesheets_insert_entry"
    typealias Row = Int64
    static let sql = """
        WITH entry AS (
            INSERT INTO timesheets (user_id, work_date, project, hours, notes, created_by, created_at, updated_at)
            VALUES ($1, DATE '1970-01-01' + $2::int4, $3, $4::int4::numeric / 100, $5, $7, $6, $6)
            RETURNING id, user_id
        )
        INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
        SELECT id, user_id, 'created', $7, $6 FROM entry
        RETURNING entry_id
        """
    var entry: NewTimesheet
    var now: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(entry.userID)
        bindings.append(Int32(entry.date.daysSinceEpoch))
        bindings.append(entry.project)
        bindings.append(Int32(entry.hours.hundredths))
        bindings.append(entry.notes)
        bindings.append(now)
        bindings.append(entry.createdBy)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// Inserts several entries with their `created` events and returns each one's id with its position in the bound
/// arrays (from 1): ``InsertEntryStatement`` for a batch (``StatementBatcher``), one statement and one commit.
///
/// Ids are drawn first, one per entry in input order, so the answer can name each entry's id (an INSERT's
/// `RETURNING` cannot name the input row); the rows then go in sorted by user-day, so the day-total trigger locks
/// day rows in one global order and overlapping batches never deadlock (as ``PostgresTimesheetRepository``'s
/// uploads). The arrays are read through an `OFFSET 0` subquery, as in ``PagesStatementSQL``, so the generic plan
/// is kept. `$5` holds the notes (empty where `$6`, "has notes", is false: arrays of text carry no NULL here).
struct InsertEntriesStatement: PostgresPreparedStatement {
    static let name = "timesheets_insert_entries"
    typealias Row = (position: Int, id: Int64)
    static let sql = """
        WITH input AS MATERIALIZED (
            SELECT nextval(pg_get_serial_sequence('timesheets', 'id')) AS id, r.*
            FROM (SELECT $1::text[] AS users, $2::int4[] AS days, $3::text[] AS projects, $4::int4[] AS hundredths,
                         $5::text[] AS notes, $6::bool[] AS has_notes, $7::text[] AS creators,
                         $8::timestamptz[] AS times OFFSET 0) AS batch
            CROSS JOIN LATERAL unnest(batch.users, batch.days, batch.projects, batch.hundredths, batch.notes,
                                      batch.has_notes, batch.creators, batch.times)
                WITH ORDINALITY AS r(user_id, day, project, hundredths, notes, has_notes, created_by, at, position)
        ), entries AS (
            INSERT INTO timesheets (id, user_id, work_date, project, hours, notes, created_by, created_at,
                                    updated_at)
            OVERRIDING SYSTEM VALUE
            SELECT id, user_id, DATE '1970-01-01' + day, project, hundredths::numeric / 100,
                   CASE WHEN has_notes THEN notes END, created_by, at, at
            FROM input ORDER BY user_id, day, id
            RETURNING id, user_id, created_by, created_at
        ), events AS (
            INSERT INTO timesheet_events (entry_id, owner_id, action, actor, at)
            SELECT id, user_id, 'created', created_by, created_at FROM entries
        )
        SELECT position, id FROM input
        """
    var entries: [(entry: NewTimesheet, now: Date)]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        bindings.append(entries.map(\.entry.userID))
        bindings.append(entries.map { Int32($0.entry.date.daysSinceEpoch) })
        bindings.append(entries.map(\.entry.project))
        bindings.append(entries.map { Int32($0.entry.hours.hundredths) })
        bindings.append(entries.map { $0.entry.notes ?? "" })
        bindings.append(entries.map { $0.entry.notes != nil })
        bindings.append(entries.map(\.entry.createdBy))
        bindings.append(entries.map(\.now))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (position, id) = try row.decode((Int64, Int64).self)
        return (Int(position), id)
    }
}

/// The SQL of several pages read by one statement (``StatementBatcher``): one `LATERAL` page per element of the bound
/// arrays, each sent as one row, its page's position in them (from 1) and the page's entries as one array of records
/// (NULL for an empty page).
///
/// One row per page, not per entry: PostgresNIO decodes, queues and hands over every row it receives as a message of
/// its own, and on the list route's batches of 16 pages of 20 entries that per-row work was 6% of the server's CPU
/// (perf, benchmarks/results/README.md, eleventh session); an array of 20 records is one message.
///
/// PostgreSQL runs a `LATERAL` subquery whose `LIMIT` names the outer row as a nested loop, and `array_agg` takes
/// the page's rows in the subquery's order (the decoder checks the order anyway). The arrays are read through a
/// subquery that PostgreSQL may not fold (`OFFSET 0`): planned for bound arrays, `unnest` is costed by their length,
/// so a plan for a batch of 4 looked cheaper than the generic plan (costed for 10) and every execution was planned
/// again (`PreparedStatementPlanTests`); this way both are costed alike and the generic plan is kept.
enum PagesStatementSQL {
    /// - Parameters:
    ///   - key: The name and type of the array that differs per page (`$1`); the page sizes are `$2`, `int4[]`. The
    ///     name must not be one of `timesheets`' columns.
    static func select(
        pagesBy key: (name: String, type: String),
        where filter: String,
        orderedBy order: String
    )
        -> String
    {
        """
        SELECT r.page_number, page.entries
        FROM (SELECT $1::\(key.type)[] AS keys, $2::int4[] AS sizes OFFSET 0) AS batch
        CROSS JOIN LATERAL unnest(batch.keys, batch.sizes) WITH ORDINALITY AS r(\(key.name), page_size, page_number)
        CROSS JOIN LATERAL (
            SELECT array_agg(\(TimesheetRecordDecoder.selectList)) AS entries FROM (
                SELECT * FROM timesheets WHERE \(filter) ORDER BY \(order) LIMIT r.page_size
            ) AS page_rows
        ) AS page
        """
    }
}

/// First pages of several users at once (``FirstPageStatement``, batched).
struct FirstPagesStatement: PostgresPreparedStatement {
    static let name = "timesheets_first_pages"
    typealias Row = BatchedPage
    static let sql = PagesStatementSQL.select(
        pagesBy: (name: "page_user_id", type: "text"),
        where: "user_id = r.page_user_id",
        orderedBy: "work_date DESC, id DESC"
    )
    var pages: [FirstPageKey]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(pages.map(\.userID))
        bindings.append(pages.map { Int32($0.limit) })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> BatchedPage { try BatchedPage(row) }
}

/// Several pages of the review queue at once (``PendingPageStatement``, batched).
struct PendingPagesStatement: PostgresPreparedStatement {
    static let name = "timesheets_pending_pages"
    typealias Row = BatchedPage
    static let sql = PagesStatementSQL.select(
        pagesBy: (name: "page_after_id", type: "int8"),
        where: "status = 'pending' AND id > r.page_after_id",
        orderedBy: "id"
    )
    var pages: [PendingPageKey]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(pages.map(\.afterID))
        bindings.append(pages.map { Int32($0.limit) })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> BatchedPage { try BatchedPage(row) }
}

/// The parameters of one user's first page.
struct FirstPageKey: Hashable, Sendable {
    var userID: String
    var limit: Int
}

/// The parameters of one page of the review queue.
struct PendingPageKey: Hashable, Sendable {
    var afterID: Int64
    var limit: Int
}

/// A row of a batched page statement: the page's position among the statement's pages (from 1), and its entries.
struct BatchedPage {
    var position: Int
    var entries: [Timesheet]

    init(position: Int, entries: [Timesheet]) {
        self.position = position
        self.entries = entries
    }

    init(_ row: PostgresRow) throws {
        var cells = row.makeIterator()
        guard let positionCell = cells.next(), let entriesCell = cells.next(), cells.next() == nil else {
            throw TimesheetRecordDecoder.UnexpectedRecord(description: "expected two columns in a batched page row")
        }
        guard positionCell.format == .binary, positionCell.dataType == .int8, var positionBytes = positionCell.bytes,
            positionBytes.readableBytes == 8, let position = positionBytes.readInteger(as: Int64.self)
        else {
            throw TimesheetRecordDecoder.UnexpectedRecord(description: "expected a page position, int8, in binary")
        }
        guard entriesCell.format == .binary, entriesCell.dataType == .recordArray else {
            throw TimesheetRecordDecoder.UnexpectedRecord(
                description: "expected a binary array of records, got \(entriesCell.dataType) in \(entriesCell.format)"
            )
        }
        self.position = Int(position)
        self.entries = try entriesCell.bytes.map(TimesheetRecordDecoder.timesheets(array:)) ?? []
    }
}
