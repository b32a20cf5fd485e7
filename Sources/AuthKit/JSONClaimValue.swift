/// A JSON value as found in a token's header or claims.
///
/// AuthKit parses tokens with its own small JSON reader so that a malformed claim (`"exp": "soon"`,
/// `"aud": []`) becomes an invalid-token answer, never a crash or a decoding error from deep inside a library.
public enum JSONClaimValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONClaimValue])
    case object([String: JSONClaimValue])

    /// The string, if this is a JSON string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, if this is a JSON number.
    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The Boolean, if this is a JSON `true` or `false`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, if this is a JSON array.
    public var arrayValue: [JSONClaimValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, if this is a JSON object.
    public var objectValue: [String: JSONClaimValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// A member of an object, `nil` for anything else.
    public subscript(key: String) -> JSONClaimValue? {
        objectValue?[key]
    }
}

extension JSONClaimValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONClaimValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONClaimValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

// MARK: - Serialising

extension JSONClaimValue {
    /// Compact JSON text with object keys sorted, so the same value always gives the same bytes.
    public var jsonString: String {
        var output = ""
        write(to: &output)
        return output
    }

    /// The compact JSON text as UTF-8 bytes.
    public var jsonBytes: [UInt8] { Array(jsonString.utf8) }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 9.007_199_254_740_992e15 {
                output += String(Int64(value))
            } else if value.isFinite {
                output += "\(value)"
            } else {
                output += "null"
            }
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, to: &output)
                output += ":"
                members[key]!.write(to: &output)
            }
            output += "}"
        }
    }

    private static func writeString(_ value: String, to output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

// MARK: - Parsing

extension JSONClaimValue {
    /// Parses JSON text. Returns `nil` for anything that is not exactly one well-formed JSON value.
    public init?(parsing bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        let parsed: JSONClaimValue? = array.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(bytes: buffer)
            guard let value = reader.readValue(depth: 0) else { return nil }
            reader.skipWhitespace()
            return reader.position == buffer.count ? value : nil
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses JSON text from a string.
    public init?(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }
}

/// The members of a token's JSON object (its header or its claims), in document order.
///
/// Verification reads a dozen members of each token once or twice; a linear search over short names is cheaper than
/// hashing every name into a dictionary, which profiles of uncached verification showed costing as much as the rest
/// of the claim checks together. ``dictionary`` builds the dictionary when someone asks for every claim.
struct JSONMembers: Sendable, Hashable {
    struct Member: Sendable, Hashable {
        let name: String
        let value: JSONClaimValue
    }

    let members: [Member]

    /// The value of the member named `name`.
    subscript(name: String) -> JSONClaimValue? {
        for member in members where member.name == name { return member.value }
        return nil
    }

    var dictionary: [String: JSONClaimValue] {
        Dictionary(members.lazy.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    // Equality and hashing ignore the order of members, as JSON objects do (and as `Principal` did when its claims
    // were a dictionary).
    static func == (lhs: JSONMembers, rhs: JSONMembers) -> Bool {
        lhs.members.count == rhs.members.count && lhs.dictionary == rhs.dictionary
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(dictionary)
    }

    /// Parses JSON text that must be exactly one object with no duplicated member names (a duplicated name is
    /// ambiguous in a security token: refused, as ``JSONClaimValue`` parsing does).
    init?(parsing bytes: [UInt8]) {
        let parsed: [Member]? = bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(bytes: buffer)
            guard let members = reader.readTopLevelMembers() else { return nil }
            reader.skipWhitespace()
            return reader.position == buffer.count ? members : nil
        }
        guard let parsed, !Self.hasDuplicateNames(parsed) else { return nil }
        self.members = parsed
    }

    private static func hasDuplicateNames(_ members: [Member]) -> Bool {
        if members.count <= 32 {
            for index in members.indices.dropFirst() {
                let name = members[index].name
                for earlier in members[..<index] where earlier.name == name { return true }
            }
            return false
        }
        // Many members (only a hostile token has them): a set keeps the check linear.
        var seen = Set<String>(minimumCapacity: members.count)
        for member in members where !seen.insert(member.name).inserted { return true }
        return false
    }
}

/// A small, strict (RFC 8259) JSON reader over UTF-8 bytes.
private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    static let maximumDepth = 64

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func readValue(depth: Int) -> JSONClaimValue? {
        guard depth < Self.maximumDepth else { return nil }
        skipWhitespace()
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "{"): return readObject(depth: depth)
        case UInt8(ascii: "["): return readArray(depth: depth)
        case UInt8(ascii: "\""): return readString().map(JSONClaimValue.string)
        case UInt8(ascii: "t"): return readLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return readLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return readLiteral("null", .null)
        default: return readNumber()
        }
    }

    private mutating func readLiteral(_ literal: StaticString, _ value: JSONClaimValue) -> JSONClaimValue? {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { return nil }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[position + offset] != start[offset] {
            return nil
        }
        position += count
        return value
    }

    /// A top-level object as its members in document order; duplicates are left for the caller to refuse.
    mutating func readTopLevelMembers() -> [JSONMembers.Member]? {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "{") else { return nil }
        return readMembers(depth: 0)
    }

    /// The members of the object whose `{` is at `position`, in document order.
    private mutating func readMembers(depth: Int) -> [JSONMembers.Member]? {
        position += 1
        var members: [JSONMembers.Member] = []
        members.reserveCapacity(depth == 0 ? 16 : 4)
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return members
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let name = readString() else {
                return nil
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            guard let value = readValue(depth: depth + 1) else { return nil }
            members.append(.init(name: name, value: value))
            skipWhitespace()
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return members
            } else {
                return nil
            }
        }
    }

    private mutating func readObject(depth: Int) -> JSONClaimValue? {
        guard let members = readMembers(depth: depth) else { return nil }
        var object: [String: JSONClaimValue] = Dictionary(minimumCapacity: members.count)
        for member in members {
            // A duplicated member name is ambiguous in a security token: refuse it.
            guard object.updateValue(member.value, forKey: member.name) == nil else { return nil }
        }
        return .object(object)
    }

    private mutating func readArray(depth: Int) -> JSONClaimValue? {
        position += 1
        var elements: [JSONClaimValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            guard let value = readValue(depth: depth + 1) else { return nil }
            elements.append(value)
            skipWhitespace()
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                return nil
            }
        }
    }

    private mutating func readString() -> String? {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes. Pure ASCII (most claims) needs no UTF-8 validation.
        var isASCII = true
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                position += 1
                return isASCII ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
            }
            if byte >= 0x80 { isASCII = false }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            position += 1
        }
        guard position < bytes.count else { return nil }
        var scalars = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return String(validating: scalars, as: UTF8.self)
            }
            if byte < 0x20 { return nil }
            if byte != UInt8(ascii: "\\") {
                scalars.append(byte)
                position += 1
                continue
            }
            position += 1
            guard position < bytes.count else { return nil }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): scalars.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): scalars.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                guard var code = readHex4() else { return nil }
                if (0xD800..<0xDC00).contains(code) {
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                        bytes[position + 1] == UInt8(ascii: "u")
                    else { return nil }
                    position += 2
                    guard let low = readHex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    return nil
                }
                guard let scalar = Unicode.Scalar(code) else { return nil }
                scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: return nil
            }
        }
        return nil
    }

    private mutating func readHex4() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private mutating func readNumber() -> JSONClaimValue? {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count else { return nil }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[position]) {
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
        } else {
            return nil
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            let digits = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            guard position > digits else { return nil }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            let digits = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            guard position > digits else { return nil }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { return nil }
        return .number(value)
    }
}
