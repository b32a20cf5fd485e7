import AuthKit
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
}
