import Foundation

/// Checks what `JSONDecoder` lets through before a body is decoded: bytes that are not UTF-8, nesting deeper than
/// any valid request needs, an object that names one key twice (which value would win is a parser's choice, so a
/// request that relies on it is refused rather than guessed at), and a top-level array with more elements than the
/// caller allows (counted here, so 10 MiB of `{}` is refused before a single element is decoded), and more than a few
/// values nested inside field values: no valid body has any (every field is a string, a number or null), and 10 MiB
/// of `[[],[],...]` in one field made `JSONDecoder` hold 4.5 million arrays (343 MiB of memory) only to refuse them.
///
/// Only the structure is checked here; syntax errors are left to the decoder, which reports them as malformed JSON.
enum StrictJSON {
    /// Deeper than any valid body (an array of entry objects is two levels).
    static let maximumDepth = 32
    /// Values inside field values allowed before the body is refused whole; below it, each such field still gets
    /// its own `invalid_type` error from validation.
    static let maximumNestedValues = 1_000

    enum Violation: Equatable {
        case invalidUTF8
        case tooDeep
        case duplicateKey(String)
        case tooManyElements
        case tooManyNestedValues
    }

    /// The first violation in `bytes`, or `nil` when there is none (or the JSON is malformed in another way).
    ///
    /// - Parameter maximumElements: How many elements a top-level array may have; the scan stops at the first one more.
    static func firstViolation(in bytes: some Collection<UInt8>, maximumElements: Int = .max) -> Violation? {
        let bytes = Array(bytes)
        guard String(validating: bytes, as: UTF8.self) != nil else { return .invalidUTF8 }
        // Keys seen so far in each open object; arrays hold `nil`.
        var open: [Set<String>?] = []
        // Whether each open container is part of a body's structure: the top-level value, and an object that is an
        // element of a top-level array (an entry of a batch). Anything inside other containers is a nested value.
        var structural: [Bool] = []
        var nested = 0
        // Elements of the top-level array seen so far, and whether the next value begins one (after `[` or `,`).
        var elements = 0
        var awaitingElement = false
        var index = 0
        while index < bytes.count {
            if awaitingElement, open.count == 1, !isBlank(bytes[index]), bytes[index] != UInt8(ascii: "]") {
                awaitingElement = false
                elements += 1
                if elements > maximumElements { return .tooManyElements }
            }
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = bytes[index] == UInt8(ascii: "{")
                let isStructure = open.isEmpty || (open.count == 1 && open[0] == nil && isObject)
                if !isStructure {
                    nested += 1
                    if nested > maximumNestedValues { return .tooManyNestedValues }
                }
                open.append(isObject ? [] : nil)
                structural.append(isStructure)
                if open.count > maximumDepth { return .tooDeep }
                if open.count == 1, open[0] == nil { awaitingElement = true }
                index += 1
            case UInt8(ascii: ","):
                if open.count == 1, open[0] == nil { awaitingElement = true }
                // One more element of a container inside a field value.
                if structural.last == false {
                    nested += 1
                    if nested > maximumNestedValues { return .tooManyNestedValues }
                }
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard !open.isEmpty else { return nil }
                open.removeLast()
                structural.removeLast()
                index += 1
            case UInt8(ascii: "\""):
                guard let end = endOfString(bytes, openingQuote: index) else { return nil }
                // Insert in place, without binding the set to a local first: a second reference would make every
                // insert copy the whole set (quadratic in the keys of one hostile 10 MiB object).
                if case .some(.some) = open.last, isKey(bytes, after: end) {
                    guard let key = decodeString(bytes[index..<end]) else { return nil }
                    guard open[open.count - 1]!.insert(key).inserted else { return .duplicateKey(key) }
                }
                index = end
            default:
                index += 1
            }
        }
        return nil
    }

    /// The index just past the closing quote of the string that starts at `openingQuote`.
    private static func endOfString(_ bytes: [UInt8], openingQuote: Int) -> Int? {
        var index = openingQuote + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return nil
    }

    /// A string is a key when the next non-blank byte is a colon.
    private static func isKey(_ bytes: [UInt8], after end: Int) -> Bool {
        var index = end
        while index < bytes.count, isBlank(bytes[index]) { index += 1 }
        return index < bytes.count && bytes[index] == UInt8(ascii: ":")
    }

    /// JSON's whitespace: space, tab, line feed, carriage return.
    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The value of a quoted JSON string (escapes resolved), so `"a"` and `"\u0061"` are the same key.
    private static func decodeString(_ quoted: ArraySlice<UInt8>) -> String? {
        if !quoted.contains(UInt8(ascii: "\\")) {
            return String(decoding: quoted.dropFirst().dropLast(), as: UTF8.self)
        }
        return try? JSONDecoder().decode(String.self, from: Data(quoted))
    }
}
