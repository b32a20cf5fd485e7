import HTTPTypes
import Hummingbird
import NIOCore
import TimesheetDomain

/// An hours report's response, written while its rows stream from the store: JSON or CSV, sent in chunks of about
/// 32 KiB as they fill, so memory holds one chunk and the store's read-ahead whatever the report's size.
///
/// A failure before the first row is an ordinary problem response (the store throws before the rows are handed
/// over); one in the middle of the rows cuts the response short, which the client sees as an unfinished body.
struct HoursReportBody: Sendable {
    let request: HoursReportRequest
    let rows: HoursReportRows

    static let chunkSize = 32 * 1024

    func response(_ format: ReportFormat) -> Response {
        switch format {
        case .json:
            return Response(
                status: .ok,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody { writer in try await writeJSON(to: &writer) }
            )
        case .csv:
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8",
                    .contentDisposition: "attachment; filename=\"hours-\(request.from)-\(request.to).csv\"",
                ],
                body: ResponseBody { writer in try await writeCSV(to: &writer) }
            )
        }
    }

    /// The wire name of a dimension's column: a row's key in JSON, a header cell in CSV.
    static func columnName(_ dimension: ReportDimension) -> String {
        switch dimension {
        case .user: "user_id"
        case .project: "project"
        case .week: "week"
        case .day: "day"
        }
    }

    /// A dimension's value in a row, as text.
    static func value(_ dimension: ReportDimension, of row: HoursReportRow) -> String {
        switch dimension {
        case .user: row.userID ?? ""
        case .project: row.project ?? ""
        case .week: row.week?.description ?? ""
        case .day: row.day?.description ?? ""
        }
    }

    // MARK: JSON

    /// `{"from", "to", "group_by", "status", "rows", "total_hours"}`; hours are exact decimals (``Hours``).
    func writeJSON(to writer: inout any ResponseBodyWriter) async throws {
        var json = JSONWriter(capacity: Self.chunkSize + 1024)
        json.raw("{\"from\":")
        json.value(request.from.description)
        json.raw(",\"to\":")
        json.value(request.to.description)
        json.raw(",\"group_by\":[")
        for (index, dimension) in request.groupBy.enumerated() {
            if index > 0 { json.raw(",") }
            json.value(dimension.rawValue)
        }
        json.raw("],\"status\":")
        json.value(request.status?.rawValue ?? HoursReportRequest.allStatuses)
        json.raw(",\"rows\":[")
        var total = Hours.zero
        var first = true
        for try await row in rows {
            if !first { json.raw(",") }
            first = false
            json.raw("{")
            for dimension in request.groupBy {
                json.value(Self.columnName(dimension))
                json.raw(":")
                json.value(Self.value(dimension, of: row))
                json.raw(",")
            }
            json.raw("\"hours\":")
            json.buffer.writeString(row.hours.description)
            json.raw(",\"entries\":")
            json.value(Int64(row.entries))
            json.raw("}")
            total = total + row.hours
            if json.buffer.readableBytes >= Self.chunkSize {
                try await writer.write(json.buffer)
                json.buffer.clear()
            }
        }
        json.raw("],\"total_hours\":")
        json.buffer.writeString(total.description)
        json.raw("}")
        try await writer.write(json.buffer)
        try await writer.finish(nil)
    }

    // MARK: CSV

    /// RFC 4180: a header row of the dimensions' names then `hours,entries`, CRLF line ends, cells quoted where
    /// needed, and text a spreadsheet would run as a formula defused (``CSVCell``).
    func writeCSV(to writer: inout any ResponseBodyWriter) async throws {
        var buffer = ByteBufferAllocator().buffer(capacity: Self.chunkSize + 1024)
        let header = request.groupBy.map(Self.columnName) + ["hours", "entries"]
        buffer.writeString(header.map(CSVCell.encode).joined(separator: ",") + "\r\n")
        for try await row in rows {
            var line = ""
            for dimension in request.groupBy {
                line += CSVCell.encode(Self.value(dimension, of: row))
                line += ","
            }
            line += row.hours.description
            line += ","
            line += String(row.entries)
            line += "\r\n"
            buffer.writeString(line)
            if buffer.readableBytes >= Self.chunkSize {
                try await writer.write(buffer)
                buffer.clear()
            }
        }
        try await writer.write(buffer)
        try await writer.finish(nil)
    }
}

/// One CSV cell: RFC 4180 quoting, and OWASP's defusing of formula injection.
enum CSVCell {
    /// The first characters that make a spreadsheet read a cell as a formula (or, for tab and CR, let one through).
    static let formulaStarts: Set<Character> = ["=", "+", "-", "@", "\t", "\r"]

    /// `text` as a cell: prefixed with `'` when it starts like a formula, then quoted (inner quotes doubled) when it
    /// holds a quote, a comma, a line break, or starts or ends with a space.
    static func encode(_ text: String) -> String {
        var cell = text
        if let first = cell.unicodeScalars.first, formulaStarts.contains(Character(first)) { cell = "'" + cell }
        let needsQuotes = cell.utf8.contains {
            $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n")
        }
        guard needsQuotes || cell.hasPrefix(" ") || cell.hasSuffix(" ") else { return cell }
        return "\"" + cell.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
