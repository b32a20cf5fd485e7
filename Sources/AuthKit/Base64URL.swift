/// Unpadded base64url (RFC 4648 §5), as JWS compact serialisation uses it.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Decodes unpadded base64url. Returns `nil` on any byte outside the alphabet, on padding, or on an impossible length.
    static func decode(_ input: some Collection<UInt8>) -> [UInt8]? {
        let count = input.count
        if count % 4 == 1 { return nil }
        var output = [UInt8]()
        output.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = decodeTable[Int(byte)]
            if value == 0xFF { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Non-canonical trailing bits mean the same bytes could be written two ways: refuse it.
        if bits > 0, accumulator & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return output
    }

    /// Encodes bytes as unpadded base64url.
    static func encode(_ input: some Collection<UInt8>) -> String {
        var output = [UInt8]()
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            accumulator = accumulator << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                output.append(alphabet[Int((accumulator >> UInt32(bits)) & 0x3F)])
            }
        }
        if bits > 0 {
            output.append(alphabet[Int((accumulator << UInt32(6 - bits)) & 0x3F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension JSONClaimValue {
    /// Base64url of the compact JSON text: what goes between the dots of a JWT.
    public var base64URLEncoded: String { Base64URL.encode(jsonBytes) }
}

/// Public base64url helpers, for test kits and tools that build tokens or JWKs.
public enum AuthBase64URL {
    /// Unpadded base64url of the bytes.
    public static func encode(_ bytes: some Collection<UInt8>) -> String { Base64URL.encode(bytes) }
    /// Decodes unpadded base64url; `nil` if it is not.
    public static func decode(_ text: String) -> [UInt8]? { Base64URL.decode(Array(text.utf8)) }
}
