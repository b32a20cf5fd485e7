import Hummingbird

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

    /// One component: `+` becomes a space, `%XX` a byte; the result must be UTF-8.
    static func decode(_ component: Substring.UTF8View) throws -> String {
        let plus = UInt8(ascii: "+")
        let percent = UInt8(ascii: "%")
        guard component.contains(where: { $0 == plus || $0 == percent }) else { return String(Substring(component)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(component.count)
        var index = component.startIndex
        while index != component.endIndex {
            let byte = component[index]
            component.formIndex(after: &index)
            switch byte {
            case plus:
                bytes.append(UInt8(ascii: " "))
            case percent:
                guard index != component.endIndex, let high = hexValue(component[index]) else { throw malformed }
                component.formIndex(after: &index)
                guard index != component.endIndex, let low = hexValue(component[index]) else { throw malformed }
                component.formIndex(after: &index)
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw malformed }
        return text
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static var malformed: Problem {
        Problem.badRequest(
            code: "malformed_query", "The query string has an invalid percent-encoding; encode parameters as UTF-8.")
    }
}

extension Request {
    /// The query string's parameters, decoded once (see ``QueryParameters``).
    func queryParameters() throws -> QueryParameters {
        try QueryParameters(uri.query)
    }
}
