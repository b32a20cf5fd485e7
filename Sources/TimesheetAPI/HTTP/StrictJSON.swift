import Foundation

/// Checks what `JSONDecoder` lets through before a body is decoded: bytes that are not UTF-8, nesting deeper than
/// any valid request needs, and an object that names one key twice (which value would win is a parser's choice,
/// so a request that relies on it is refused rather than guessed at).
///
/// Only the structure is checked here; syntax errors are left to the decoder, which reports them as malformed JSON.
enum StrictJSON {
    /// Deeper than any valid body (an array of entry objects is two levels).
    static let maximumDepth = 32

    enum Violation: Equatable {
        case invalidUTF8
        case tooDeep
        case duplicateKey(String)
    }

    /// The first violation in `bytes`, or `nil` when there is none (or the JSON is malformed in another way).
    static func firstViolation(in bytes: some Collection<UInt8>) -> Violation? {
        let bytes = Array(bytes)
        guard String(validating: bytes, as: UTF8.self) != nil else { return .invalidUTF8 }
        // Keys seen so far in each open object; arrays hold `nil`.
        var open: [Set<String>?] = []
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                open.append(bytes[index] == UInt8(ascii: "{") ? [] : nil)
                if open.count > maximumDepth { return .tooDeep }
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard !open.isEmpty else { return nil }
                open.removeLast()
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
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        return index < bytes.count && bytes[index] == UInt8(ascii: ":")
    }

    /// The value of a quoted JSON string (escapes resolved), so `"a"` and `"\u0061"` are the same key.
    private static func decodeString(_ quoted: ArraySlice<UInt8>) -> String? {
        if !quoted.contains(UInt8(ascii: "\\")) {
            return String(decoding: quoted.dropFirst().dropLast(), as: UTF8.self)
        }
        return try? JSONDecoder().decode(String.self, from: Data(quoted))
    }
}
