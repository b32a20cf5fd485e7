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

    /// One result row: the dimensions' columns in order, then hundredths and the entry count. Read from the binary
    /// cells directly (``HoursReportCells``); a row in another shape is decoded the generic way, so the fast path can
    /// only be faster, never different.
    static func row(_ row: PostgresRow, dimensions: [ReportDimension]) throws -> HoursReportRow {
        if let decoded = HoursReportCells.row(row, dimensions: dimensions) { return decoded }
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

/// Reads a report row straight from its binary cells: text as UTF-8, integers as int4 or int8 in network order.
/// `nil` for a row in any other shape (text format, another type, a NULL), which the caller decodes the generic way.
enum HoursReportCells {
    static func row(_ row: PostgresRow, dimensions: [ReportDimension]) -> HoursReportRow? {
        var cells = row.makeIterator()
        var result = HoursReportRow(hours: .zero, entries: 0)
        for dimension in dimensions {
            switch dimension {
            case .user:
                guard let text = text(cells.next()) else { return nil }
                result.userID = text
            case .project:
                guard let text = text(cells.next()) else { return nil }
                result.project = text
            case .week:
                guard let days = integer(cells.next()) else { return nil }
                result.week = ISOWeek(containing: CalendarDay(daysSinceEpoch: days))
            case .day:
                guard let days = integer(cells.next()) else { return nil }
                result.day = CalendarDay(daysSinceEpoch: days)
            }
        }
        guard let hundredths = integer(cells.next()), let entries = integer(cells.next()), cells.next() == nil else {
            return nil
        }
        result.hours = Hours(hundredths: hundredths)
        result.entries = entries
        return result
    }

    private static func text(_ cell: PostgresCell?) -> String? {
        guard let cell, cell.dataType == .text || cell.dataType == .varchar, let bytes = cell.bytes else { return nil }
        return String(buffer: bytes)
    }

    private static func integer(_ cell: PostgresCell?) -> Int? {
        guard let cell, cell.format == .binary, let bytes = cell.bytes else { return nil }
        switch (cell.dataType, bytes.readableBytes) {
        case (.int4, 4): return bytes.getInteger(at: bytes.readerIndex, as: Int32.self).map(Int.init)
        case (.int8, 8): return bytes.getInteger(at: bytes.readerIndex, as: Int64.self).map(Int.init)
        default: return nil
        }
    }
}

/// A report's rows decoded as PostgreSQL sends them, in batches of up to ``batchSize``. PostgresNIO asks for more
/// rows only as they are consumed, so memory holds a few batches whatever the report's size; the pooled connection
/// is released at the end.
struct HoursReportBatches: AsyncSequence, Sendable {
    typealias Element = [HoursReportRow]
    /// Large enough that the per-batch costs (a hop to the reader, an array) vanish next to the rows', small enough
    /// that the first bytes of a response leave early.
    static let batchSize = 256

    let rows: PostgresRowSequence
    let dimensions: [ReportDimension]
    let logger: Logger

    struct AsyncIterator: AsyncIteratorProtocol {
        let reader: HoursReportReader
        let logger: Logger

        mutating func next() async throws -> [HoursReportRow]? {
            do {
                return try await reader.nextBatch(upTo: HoursReportBatches.batchSize)
            } catch {
                throw StoreError.logged(error, to: logger, as: "database error while reading a report")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: HoursReportReader(rows: rows, dimensions: dimensions), logger: logger)
    }
}

/// Takes a report's rows off PostgresNIO's row sequence and decodes them, a batch per call.
///
/// Why an actor: wherever a job runs isolated to a serial executor that is not a default actor (NIO's own installer
/// of the global executor ran every job so), each call into a `nonisolated` async function (PostgresNIO's `next()`)
/// is a new job on the loop's queue: 1.85-2.6 jobs per row, most of the 2-3 µs a row cost (benchmarks/results/
/// README.md, "Issue #17 reports"). From a default actor the runtime hops to such a function and back on the same
/// thread, without a job, so the reader's loop costs one job per batch whatever executor runs the server.
actor HoursReportReader {
    private var rows: PostgresRowSequence.AsyncIterator
    private let dimensions: [ReportDimension]

    init(rows: PostgresRowSequence, dimensions: [ReportDimension]) {
        self.rows = rows.makeAsyncIterator()
        self.dimensions = dimensions
    }

    /// The next rows in order, at most `size` of them; `nil` once every row has been read.
    func nextBatch(upTo size: Int) async throws -> [HoursReportRow]? {
        var batch: [HoursReportRow] = []
        batch.reserveCapacity(size)
        // A copy for the loop (an actor's property cannot be passed `inout` across an `await`); the iterator's state
        // lives in a class it refers to, so the copy and the property read the same rows.
        var iterator = rows
        defer { rows = iterator }
        while batch.count < size, let row = try await iterator.next(isolation: self) {
            batch.append(try HoursReportQuery.row(row, dimensions: dimensions))
        }
        return batch.isEmpty ? nil : batch
    }
}
