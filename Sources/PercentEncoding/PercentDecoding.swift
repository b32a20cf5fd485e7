/// Percent-decoding (RFC 3986 section 2.1), the one rule for every reader of URL-encoded text in the package: query
/// strings and form bodies (where `+` is a space), `DATABASE_URL`, and a bearer token passed in a query.
///
/// Strict: an escape that is not `%` and two hex digits is refused, and so are decoded bytes that are not UTF-8
/// (Foundation's `removingPercentEncoding`, which form bodies, `DATABASE_URL` and AuthKit used before, turns some of
/// those, such as a lone `%A9`, into U+FFFD instead). It works on the UTF-8 bytes in
/// one pass and returns text without escapes unchanged, without copying: the query string of every request goes
/// through it.
///
/// ```swift
/// PercentDecoding.decode("Store+Zero%21", plus: .space)  // "Store Zero!"
/// PercentDecoding.decode("s%40cret")                     // "s@cret"
/// PercentDecoding.decode("%E2%82")                       // nil: not UTF-8
/// ```
public enum PercentDecoding {
    /// What a `+` means.
    public enum Plus: Sendable {
        /// A plus sign, as in a URL's user info, path or a plain query parameter (RFC 3986).
        case literal
        /// A space, as in `application/x-www-form-urlencoded` (HTML forms, `URLSearchParams`).
        case space
    }

    /// Decodes one component (a name or a value, not a whole query).
    /// - Parameters:
    ///   - component: The encoded text.
    ///   - plus: Whether `+` is a plus sign or a space.
    /// - Returns: The decoded text, or `nil` when an escape is not `%` and two hex digits, or the bytes are not UTF-8.
    public static func decode(_ component: Substring.UTF8View, plus: Plus = .literal) -> String? {
        let plusSign = UInt8(ascii: "+")
        let percent = UInt8(ascii: "%")
        let plusIsSpace = plus == .space
        guard component.contains(where: { $0 == percent || (plusIsSpace && $0 == plusSign) }) else {
            return String(Substring(component))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(component.count)
        var index = component.startIndex
        while index != component.endIndex {
            let byte = component[index]
            component.formIndex(after: &index)
            switch byte {
            case plusSign where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            case percent:
                guard index != component.endIndex, let high = hexValue(component[index]) else { return nil }
                component.formIndex(after: &index)
                guard index != component.endIndex, let low = hexValue(component[index]) else { return nil }
                component.formIndex(after: &index)
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Decodes one component given as text; see ``decode(_:plus:)-(Substring.UTF8View,_)``.
    public static func decode(_ component: Substring, plus: Plus = .literal) -> String? {
        decode(component.utf8, plus: plus)
    }

    /// Decodes one component given as text; see ``decode(_:plus:)-(Substring.UTF8View,_)``.
    public static func decode(_ component: String, plus: Plus = .literal) -> String? {
        decode(Substring(component).utf8, plus: plus)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
