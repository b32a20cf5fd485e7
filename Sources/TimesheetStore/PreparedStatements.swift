import Foundation
import PostgresNIO
import TimesheetDomain

// The statements of the hottest requests, prepared once per pooled connection: an unnamed statement is parsed and
// planned on every call, and planning cost PostgreSQL about as much CPU as running these queries (scripts/bench,
// EXPLAIN ANALYZE: 1 ms planning, 0.3 ms execution for the daily sum). Their SQL matches the dynamic statements
// of PostgresTimesheetRepository that they replace for these shapes.

/// A user's first page, latest day first (`GET /timesheets` without filters or cursor).
struct FirstPageStatement: PostgresPreparedStatement {
    typealias Row = Timesheet
    static let sql = """
        SELECT \(PostgresTimesheetRepository.columns) FROM timesheets WHERE user_id = $1
        ORDER BY work_date DESC, id DESC LIMIT $2
        """
    var userID: String
    var limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(userID)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Timesheet { try PostgresTimesheetRepository.timesheet(row) }
}

/// The review queue's page, oldest pending entry first after an id (`GET /approvals`; 0 for the first page).
struct PendingPageStatement: PostgresPreparedStatement {
    typealias Row = Timesheet
    static let sql = """
        SELECT \(PostgresTimesheetRepository.columns) FROM timesheets WHERE status = 'pending' AND id > $1
        ORDER BY id LIMIT $2
        """
    var afterID: Int64
    var limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(afterID)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Timesheet { try PostgresTimesheetRepository.timesheet(row) }
}

/// Takes a user-day's advisory lock, in the same slot as the batch path's (see `lockSlot`).
struct LockUserDayStatement: PostgresPreparedStatement {
    typealias Row = Void
    static let sql = """
        SELECT pg_advisory_xact_lock(\(PostgresTimesheetRepository.lockSpace), \(PostgresTimesheetRepository.lockSlot("$1::text", "$2::int4")))
        """
    var userID: String
    var day: Int32

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(userID)
        bindings.append(day)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// Sums a user-day's counted hours and inserts the entry only if the day stays within `limit`. Run after the
/// day's lock, in a statement of its own, so it sees what earlier holders committed. Returns the recorded
/// hundredths and the new id (`NULL` when nothing was inserted).
struct InsertWithinDailyLimitStatement: PostgresPreparedStatement {
    typealias Row = (Int, Int64?)
    static let sql = """
        WITH recorded AS (
            SELECT COALESCE((sum(hours) * 100)::int4, 0) AS hundredths FROM timesheets
            WHERE user_id = $1 AND work_date = DATE '1970-01-01' + $2::int4 AND status <> 'rejected'
        ), inserted AS (
            INSERT INTO timesheets (user_id, work_date, project, hours, notes, created_at, updated_at)
            SELECT $1, DATE '1970-01-01' + $2::int4, $3, $4::int4::numeric / 100, $5, $6, $6
            FROM recorded WHERE recorded.hundredths + $4::int4 <= $7::int4
            RETURNING id
        )
        SELECT recorded.hundredths, (SELECT id FROM inserted) FROM recorded
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
        bindings.append(Int32(Hours.dailyLimit.hundredths))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (Int, Int64?) { try row.decode((Int, Int64?).self) }
}
