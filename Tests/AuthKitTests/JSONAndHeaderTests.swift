import AuthKit
import Foundation
import Testing

@Suite("JSON values and header rendering")
struct JSONAndHeaderTests {
    @Test("Parses what JWTs contain and refuses what is not JSON")
    func parsing() {
        let value = JSONClaimValue(parsing: #"{"a":[1,2.5,-3e2],"b":"x\"\u00e9\ud83d\ude00","c":true,"d":null}"#)
        #expect(value == ["a": [1, 2.5, -300], "b": "x\"é😀", "c": true, "d": .null])
        for bad in ["", "{", "{\"a\":1,}", "[1 2]", "{\"a\":1}x", "01", "\"\\ud800\"", "{\"a\":1,\"a\":2}", "nul"] {
            #expect(JSONClaimValue(parsing: bad) == nil, "\(bad)")
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(JSONClaimValue(parsing: deep) == nil)
    }

    @Test("Serialises compactly with sorted keys")
    func serialising() {
        let value: JSONClaimValue = ["b": [1, "two"], "a": "q\"uote", "exp": 1_750_000_000]
        #expect(value.jsonString == #"{"a":"q\"uote","b":[1,"two"],"exp":1750000000}"#)
        #expect(JSONClaimValue(parsing: value.jsonString) == value)
    }

    @Test("Base64url round trip, no padding")
    func base64() {
        for count in 0..<10 {
            let bytes = (0..<count).map { UInt8($0 * 37 & 0xFF) }
            let text = AuthBase64URL.encode(bytes)
            #expect(!text.contains("="))
            #expect(AuthBase64URL.decode(text) == bytes)
        }
        #expect(AuthBase64URL.decode("a") == nil)
        #expect(AuthBase64URL.decode("ab+/") == nil)
    }

    @Test("Base64url decoding agrees with Foundation's base64 for every length and refuses what it must")
    func base64AgainstFoundation() {
        var generator = SystemRandomNumberGenerator()
        for count in 0..<200 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let standard = Data(bytes).base64EncodedString()
            let url = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(AuthBase64URL.decode(url) == bytes, "\(count) bytes")
            #expect(AuthBase64URL.encode(bytes) == url)
            // A byte outside the alphabet anywhere (full quantum or tail) is refused.
            for position in [0, url.count / 2, url.count - 1] where !url.isEmpty {
                var broken = Array(url.utf8)
                broken[position] = UInt8(ascii: "=")
                #expect(AuthBase64URL.decode(String(decoding: broken, as: UTF8.self)) == nil)
            }
        }
        // Non-canonical trailing bits: the same byte could be written "QQ" or "QR"; only "QQ" is accepted.
        #expect(AuthBase64URL.decode("QQ") == [0x41])
        #expect(AuthBase64URL.decode("QR") == nil)
        #expect(AuthBase64URL.decode("QUI") == [0x41, 0x42])
        #expect(AuthBase64URL.decode("QUJ") == nil)
        #expect(AuthBase64URL.decode("QUJD") == [0x41, 0x42, 0x43])
        #expect(AuthBase64URL.decode("QUJD=") == nil)
    }
}
