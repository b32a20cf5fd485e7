import Hummingbird
import PercentEncoding

/// A request's query string, decoded once as browsers encode it (`URLSearchParams`, HTML forms): `+` is a space and
/// `%XX` escapes must spell UTF-8. Anything else is refused rather than guessed at.
///
/// ```swift
/// let query = try request.queryParameters()
/// let limit = query["limit"]
/// ```
struct QueryParameters: Sendable {
    private let pairs: [(name: String, value: String)]

    /// Decodes every `name=value` pair of `query` (a missing `=` gives an empty value).
    /// - Throws: ``Problem`` 400 `malformed_query` when an escape is not `%` and two hex digits, or the bytes are not
    ///   UTF-8.
    init(_ query: String?) throws {
        guard let query, !query.isEmpty else {
            pairs = []
            return
        }
        var pairs: [(name: String, value: String)] = []
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let name = try Self.decode(pair[..<(equals ?? pair.endIndex)])
            let value = try equals.map { try Self.decode(pair[pair.index(after: $0)...]) } ?? ""
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    /// The first value given for `name`, or `nil` when the query does not name it.
    subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// One component: `+` becomes a space, `%XX` a byte; the result must be UTF-8 (``PercentDecoding``).
    static func decode(_ component: Substring.UTF8View) throws -> String {
        guard let text = PercentDecoding.decode(component, plus: .space) else { throw malformed }
        return text
    }

    private static var malformed: Problem {
        Problem.badRequest(
            code: "malformed_query",
            "The query string has an invalid percent-encoding; encode parameters as UTF-8."
        )
    }
}

extension Request {
    /// The query string's parameters, decoded once (see ``QueryParameters``).
    func queryParameters() throws -> QueryParameters {
        try QueryParameters(uri.query)
    }
}
