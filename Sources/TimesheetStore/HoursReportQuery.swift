import Logging
import PostgresNIO
import TimesheetDomain

/// The SQL of an hours report: one `GROUP BY` over `timesheets`, its columns the request's dimensions in order, then
/// the exact sum of hours in hundredths and the number of entries.
///
/// Fixed fragments, bound values. Text groups and sorts `COLLATE "C"` (by bytes), as
/// ``HoursReportRow/precedes(_:_:by:)`` defines, and as migration 0004's index on `(user_id COLLATE "C", project
/// COLLATE "C", work_date)` is ordered: a report by user and project reads that index in order and aggregates it
/// as it goes, with no hash table and no sort. Its other index, on `work_date`, serves short ranges. A status is
/// written as a literal (a closed enum).
enum HoursReportQuery {
    static func statement(for request: HoursReportRequest) -> PostgresQuery {
        var sql = PostgresQuery.StringInterpolation(literalCapacity: 640, interpolationCount: 4)
        let columns = request.groupBy.map(expression(for:))
        sql.appendLiteral("SELECT ")
        sql.appendLiteral(columns.joined(separator: ", "))
        sql.appendLiteral(", (sum(hours) * 100)::int8, count(*) FROM timesheets WHERE work_date BETWEEN ")
        sql.appendLiteral("DATE '1970-01-01' + ")
        sql.appendInterpolation(Int32(request.from.daysSinceEpoch))
        sql.appendLiteral(" AND DATE '1970-01-01' + ")
        sql.appendInterpolation(Int32(request.to.daysSinceEpoch))
        if let status = request.status {
            sql.appendLiteral(" AND status = '\(literal(status))'")
        }
        if let userID = request.userID {
            sql.appendLiteral(" AND user_id = ")
            sql.appendInterpolation(userID)
        }
        if let project = request.project {
            sql.appendLiteral(" AND project = ")
            sql.appendInterpolation(project)
        }
        sql.appendLiteral(" GROUP BY ")
        sql.appendLiteral(columns.joined(separator: ", "))
        sql.appendLiteral(" ORDER BY ")
        sql.appendLiteral(columns.joined(separator: ", "))
        return PostgresQuery(stringInterpolation: sql)
    }

    /// A dimension's column: text for user and project, days since 1970-01-01 for the day and its ISO week's Monday.
    static func expression(for dimension: ReportDimension) -> String {
        switch dimension {
        case .user: "user_id COLLATE \"C\""
        case .project: "project COLLATE \"C\""
        case .week: "(work_date - DATE '1970-01-01') - (extract(isodow FROM work_date)::int - 1)"
        case .day: "(work_date - DATE '1970-01-01')"
        }
    }

    static func literal(_ status: TimesheetStatus) -> String {
        switch status {
        case .pending: "pending"
        case .approved: "approved"
        case .rejected: "rejected"
        }
    }

    /// One result row: the dimensions' columns in order, then hundredths and the entry count.
    static func row(_ row: PostgresRow, dimensions: [ReportDimension]) throws -> HoursReportRow {
        let cells = row.makeRandomAccess()
        var result = HoursReportRow(hours: .zero, entries: 0)
        for (index, dimension) in dimensions.enumerated() {
            switch dimension {
            case .user: result.userID = try cells[index].decode(String.self)
            case .project: result.project = try cells[index].decode(String.self)
            case .week:
                result.week = ISOWeek(containing: CalendarDay(daysSinceEpoch: try cells[index].decode(Int.self)))
            case .day: result.day = CalendarDay(daysSinceEpoch: try cells[index].decode(Int.self))
            }
        }
        result.hours = Hours(hundredths: try cells[dimensions.count].decode(Int.self))
        result.entries = try cells[dimensions.count + 1].decode(Int.self)
        return result
    }
}

/// A report's rows decoded as PostgreSQL sends them. PostgresNIO asks for more rows only as they are consumed, so
/// memory holds a few batches whatever the report's size; the pooled connection is released at the end.
struct HoursReportRowSequence: AsyncSequence, Sendable {
    typealias Element = HoursReportRow
    let rows: PostgresRowSequence
    let dimensions: [ReportDimension]
    let logger: Logger

    struct AsyncIterator: AsyncIteratorProtocol {
        var rows: PostgresRowSequence.AsyncIterator
        let dimensions: [ReportDimension]
        let logger: Logger

        mutating func next() async throws -> HoursReportRow? {
            do {
                guard let row = try await rows.next() else { return nil }
                return try HoursReportQuery.row(row, dimensions: dimensions)
            } catch {
                throw StoreError.logged(error, to: logger, as: "database error while reading a report")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(rows: rows.makeAsyncIterator(), dimensions: dimensions, logger: logger)
    }
}
