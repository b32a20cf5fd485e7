/// A duration of work in hundredths of an hour: greater than 0, at most 24, at most two decimals.
///
/// Stored as an integer so sums are exact (7.35 + 0.65 is 8, not 7.999...).
public struct Hours: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let hundredths: Int

    public init(hundredths: Int) { self.hundredths = hundredths }

    public static let zero = Hours(hundredths: 0)
    /// The most one entry may record, and the most one user may record on one day across entries.
    public static let dailyLimit = Hours(hundredths: 2_400)

    /// The value as a floating-point number, for JSON output (exact for two decimals at this size).
    public var value: Double { Double(hundredths) / 100 }

    /// `7.5` for 750, `8` for 800, `0.05` for 5.
    public var description: String {
        let whole = hundredths / 100
        let fraction = hundredths % 100
        if fraction == 0 { return String(whole) }
        if fraction % 10 == 0 { return "\(whole).\(fraction / 10)" }
        return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    public static func < (lhs: Hours, rhs: Hours) -> Bool { lhs.hundredths < rhs.hundredths }
    public static func + (lhs: Hours, rhs: Hours) -> Hours { Hours(hundredths: lhs.hundredths + rhs.hundredths) }
    public static func - (lhs: Hours, rhs: Hours) -> Hours { Hours(hundredths: lhs.hundredths - rhs.hundredths) }
}

extension Hours {
    /// Why a value is not a valid number of hours.
    public enum ParseFailure: Error, Equatable, Sendable {
        /// Not a plain decimal number (`abc`, `1e3`, `NaN`, empty).
        case notANumber
        /// Zero, negative or above 24.
        case outOfRange
        /// More than two decimals.
        case tooPrecise
    }

    /// Parses a plain decimal text such as `5`, `7.5`, `" 0.25 "` or `-1` (which is out of range).
    /// Exponents, `NaN`, `Infinity`, hex and thousands separators are not numbers here.
    public static func parse(_ text: String) -> Result<Hours, ParseFailure> {
        let trimmed = text.trimmingASCIIWhitespace()
        var bytes = Substring(trimmed).utf8[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") {
            negative = bytes.first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        let integerPart = bytes.prefix(while: isDigit)
        bytes = bytes.dropFirst(integerPart.count)
        var fractionPart = bytes[bytes.startIndex..<bytes.startIndex]
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fractionPart = bytes.prefix(while: isDigit)
            bytes = bytes.dropFirst(fractionPart.count)
            guard !fractionPart.isEmpty else { return .failure(.notANumber) }
        }
        guard bytes.isEmpty, !integerPart.isEmpty || !fractionPart.isEmpty else { return .failure(.notANumber) }

        let significantInteger = integerPart.drop(while: { $0 == UInt8(ascii: "0") })
        // Anything with more than two integer digits is above 24; no need to build the number.
        if significantInteger.count > 2 {
            return .failure(.outOfRange)
        }
        let significantFraction = fractionPart.reversed().drop(while: { $0 == UInt8(ascii: "0") })
        var whole = 0
        for byte in significantInteger { whole = whole * 10 + Int(byte - UInt8(ascii: "0")) }
        let digits = Array(significantFraction.reversed())
        var hundredths = whole * 100
        if digits.count > 0 { hundredths += Int(digits[0] - UInt8(ascii: "0")) * 10 }
        if digits.count > 1 { hundredths += Int(digits[1] - UInt8(ascii: "0")) }
        if negative && hundredths != 0 { return .failure(.outOfRange) }
        guard hundredths > 0, hundredths <= Hours.dailyLimit.hundredths else { return .failure(.outOfRange) }
        guard digits.count <= 2 else { return .failure(.tooPrecise) }
        return .success(Hours(hundredths: hundredths))
    }
}

extension String {
    func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return self[start...end]
    }
}
