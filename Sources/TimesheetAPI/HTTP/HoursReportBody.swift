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
        var total = 0
        var first = true
        for try await batch in rows.batches {
            for row in batch {
                json.raw(first ? "{" : ",{")
                first = false
                for dimension in request.groupBy {
                    Self.writeJSONKeyAndValue(dimension, of: row, to: &json)
                }
                json.raw("\"hours\":")
                ReportValueText.write(row.hours, to: &json.buffer)
                json.raw(",\"entries\":")
                ReportValueText.write(row.entries, to: &json.buffer)
                json.raw("}")
                total += row.hours.hundredths
                if json.buffer.readableBytes >= Self.chunkSize {
                    try await writer.write(json.buffer)
                    json.buffer.clear()
                }
            }
        }
        json.raw("],\"total_hours\":")
        ReportValueText.write(Hours(hundredths: total), to: &json.buffer)
        json.raw("}")
        try await writer.write(json.buffer)
        try await writer.finish(nil)
    }

    /// `"user_id":"...",` and the like: a dimension's key and its value in a row, then a comma.
    static func writeJSONKeyAndValue(_ dimension: ReportDimension, of row: HoursReportRow, to json: inout JSONWriter) {
        switch dimension {
        case .user:
            json.raw("\"user_id\":")
            json.value(row.userID ?? "")
        case .project:
            json.raw("\"project\":")
            json.value(row.project ?? "")
        case .week:
            json.raw("\"week\":\"")
            if let week = row.week { ReportValueText.write(week, to: &json.buffer) }
            json.raw("\"")
        case .day:
            json.raw("\"day\":\"")
            if let day = row.day { ReportValueText.write(day, to: &json.buffer) }
            json.raw("\"")
        }
        json.raw(",")
    }

    // MARK: CSV

    /// RFC 4180: a header row of the dimensions' names then `hours,entries`, CRLF line ends, cells quoted where
    /// needed, and text a spreadsheet would run as a formula defused (``CSVCell``).
    func writeCSV(to writer: inout any ResponseBodyWriter) async throws {
        var buffer = ByteBufferAllocator().buffer(capacity: Self.chunkSize + 1024)
        let header = request.groupBy.map(Self.columnName) + ["hours", "entries"]
        buffer.writeString(header.map(CSVCell.encode).joined(separator: ",") + "\r\n")
        for try await batch in rows.batches {
            for row in batch {
                for dimension in request.groupBy {
                    Self.writeCSVCell(dimension, of: row, to: &buffer)
                    buffer.writeInteger(UInt8(ascii: ","))
                }
                ReportValueText.write(row.hours, to: &buffer)
                buffer.writeInteger(UInt8(ascii: ","))
                ReportValueText.write(row.entries, to: &buffer)
                buffer.writeStaticString("\r\n")
                if buffer.readableBytes >= Self.chunkSize {
                    try await writer.write(buffer)
                    buffer.clear()
                }
            }
        }
        try await writer.write(buffer)
        try await writer.finish(nil)
    }

    /// A dimension's value in a row as a CSV cell. Days and weeks never need quoting nor defusing.
    static func writeCSVCell(_ dimension: ReportDimension, of row: HoursReportRow, to buffer: inout ByteBuffer) {
        switch dimension {
        case .user: CSVCell.write(row.userID ?? "", to: &buffer)
        case .project: CSVCell.write(row.project ?? "", to: &buffer)
        case .week: if let week = row.week { ReportValueText.write(week, to: &buffer) }
        case .day: if let day = row.day { ReportValueText.write(day, to: &buffer) }
        }
    }
}

/// One CSV cell: RFC 4180 quoting, and OWASP's defusing of formula injection.
enum CSVCell {
    /// The first characters that make a spreadsheet read a cell as a formula (or, for tab and CR, let one through),
    /// as bytes for ``write(_:to:)`` and as characters for ``encode(_:)``: one list, so the two cannot drift apart.
    static let formulaStartBytes: [UInt8] = Array("=+-@\t\r".utf8)
    static let formulaStarts = Set(formulaStartBytes.map { Character(Unicode.Scalar($0)) })

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

    /// ``encode(_:)`` written into `buffer`. ASCII text is handled on its bytes (where a byte is a character, so
    /// the result is the same); any other text goes through ``encode(_:)``, whose `Character` comparisons treat a
    /// quote or space followed by a combining mark as another character.
    static func write(_ text: String, to buffer: inout ByteBuffer) {
        var text = text
        let handled = text.withUTF8 { bytes -> Bool in
            var needsQuotes = false
            for byte in bytes {
                if byte >= 0x80 { return false }
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\r")
                    || byte == UInt8(ascii: "\n")
                {
                    needsQuotes = true
                }
            }
            let defused = bytes.first.map(formulaStartBytes.contains) ?? false
            needsQuotes =
                needsQuotes || (!defused && bytes.first == UInt8(ascii: " ")) || bytes.last == UInt8(ascii: " ")
            if needsQuotes { buffer.writeInteger(UInt8(ascii: "\"")) }
            if defused { buffer.writeInteger(UInt8(ascii: "'")) }
            if needsQuotes {
                var start = 0
                for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\"") {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...index]))
                    buffer.writeInteger(UInt8(ascii: "\""))
                    start = index + 1
                }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
                buffer.writeInteger(UInt8(ascii: "\""))
            } else {
                buffer.writeBytes(UnsafeRawBufferPointer(bytes))
            }
            return true
        }
        if !handled { buffer.writeString(encode(text)) }
    }
}
