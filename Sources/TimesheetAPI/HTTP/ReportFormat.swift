import HTTPTypes

/// The media types a report is served in, chosen from the request's `Accept` header (RFC 9110 §12.5.1).
enum ReportFormat: Equatable, Sendable {
    case json
    case csv

    /// The format the client prefers: the highest `q` among the ranges that name JSON or CSV, JSON on a tie (and
    /// when `Accept` is absent or empty).
    /// - Throws: ``Problem`` 406 `not_acceptable` when the header accepts neither.
    static func negotiate(_ accept: String?) throws -> ReportFormat {
        guard let accept, !accept.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "," }) else { return .json }
        var best: (format: ReportFormat, quality: Double)?
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { trimmed($0).lowercased() }
            guard let type = parts.first, !type.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)).flatMap { (0...1).contains($0) ? $0 : nil } ?? 0
            }
            guard quality > 0 else { continue }
            let candidates: [ReportFormat]
            switch type {
            case "application/json", "application/*": candidates = [.json]
            case "text/csv", "text/*": candidates = [.csv]
            case "*/*": candidates = [.json]
            default: candidates = []
            }
            for format in candidates where best == nil || quality > best!.quality {
                best = (format, quality)
            }
        }
        guard let best else {
            throw Problem(
                status: .notAcceptable,
                code: "not_acceptable",
                title: "Not acceptable",
                detail: "A report is served as application/json or text/csv; send Accept with one of them."
            )
        }
        return best.format
    }
}

/// `text` without the spaces and tabs around it.
private func trimmed(_ text: Substring) -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let start = text.firstIndex(where: { !isSpace($0) }), let end = text.lastIndex(where: { !isSpace($0) })
    else { return "" }
    return text[start...end]
}
