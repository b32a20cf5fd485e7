/// Unpadded base64url (RFC 4648 §5), as JWS compact serialisation uses it.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Decodes unpadded base64url. Returns `nil` on any byte outside the alphabet, on padding, or on an impossible
    /// length.
    static func decode(_ input: some Collection<UInt8>) -> [UInt8]? {
        if let decoded = input.withContiguousStorageIfAvailable({ decode(contiguous: $0) }) { return decoded }
        return Array(input).withUnsafeBufferPointer { decode(contiguous: $0) }
    }

    /// Four characters at a time into three bytes, with one table lookup per character: this runs on every token's
    /// header, payload and signature, so it is on the hot path of every uncached verification.
    private static func decode(contiguous input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = input.count
        let tail = count % 4
        if tail == 1 { return nil }
        let outputCount = count / 4 * 3 + (tail == 0 ? 0 : tail - 1)
        return decodeTable.withUnsafeBufferPointer { table -> [UInt8]? in
            var valid = true
            let output = [UInt8](unsafeUninitializedCapacity: outputCount) { buffer, initialized in
                var read = 0
                var written = 0
                // Every valid entry is below 64; 0xFF marks a byte outside the alphabet, so OR-ing four lookups
                // and testing 0x80 checks a whole quantum with one branch.
                while read + 4 <= count {
                    let a = table[Int(input[read])]
                    let b = table[Int(input[read + 1])]
                    let c = table[Int(input[read + 2])]
                    let d = table[Int(input[read + 3])]
                    if (a | b | c | d) & 0x80 != 0 {
                        valid = false
                        break
                    }
                    let bits = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    buffer[written] = UInt8(truncatingIfNeeded: bits >> 16)
                    buffer[written + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                    buffer[written + 2] = UInt8(truncatingIfNeeded: bits)
                    read += 4
                    written += 3
                }
                if valid, tail > 0 {
                    let a = table[Int(input[read])]
                    let b = table[Int(input[read + 1])]
                    let c = tail == 3 ? table[Int(input[read + 2])] : 0
                    if (a | b | c) & 0x80 != 0 {
                        valid = false
                    } else {
                        let bits = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                        buffer[written] = UInt8(truncatingIfNeeded: bits >> 16)
                        if tail == 3 { buffer[written + 1] = UInt8(truncatingIfNeeded: bits >> 8) }
                        // Non-canonical trailing bits mean the same bytes could be written two ways: refuse them.
                        let unused: UInt32 = tail == 2 ? 0xFFFF : 0xFF
                        if bits & unused != 0 { valid = false }
                    }
                }
                initialized = valid ? outputCount : 0
            }
            return valid ? output : nil
        }
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
