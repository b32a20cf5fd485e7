import Foundation
import PercentEncoding
import Testing

@Suite struct PercentDecodingTests {
    /// The decoder replaced Foundation's `removingPercentEncoding` (after `+` became a space, for forms and queries);
    /// it must agree with it on every component, accepting and refusing the same ones, except that Foundation
    /// sometimes turns escapes that are not UTF-8 into U+FFFD (a lone continuation byte such as `%a9`) where we refuse
    /// them, as the API has always promised for query strings (and now does for form bodies and `DATABASE_URL` too).
    @Test(arguments: [PercentDecoding.Plus.space, .literal])
    func agreesWithFoundationOnEveryComponent(plus: PercentDecoding.Plus) throws {
        var components = [
            "", "plain", "Store+Zero", "%2B", "a%20b", "%e2%82%ac", "%E2%82%AC", "caf%C3%A9", "%00", "%7e", "100%",
            "%", "%4", "%G1", "%1G", "%%41", "%FF", "%C0%AF", "%E2%82", "%ED%A0%80", "%F4%90%80%80", "'%3B--",
            "..%2F..",
            "é", "日本", "+%2B+", "%2b%2B", "%FaG", "%C3", "%C3x", "%a9", "+%a9.+a", "s%40cret%2Fx",
            "%2Fvar%2Frun%2Fpostgresql",
        ]
        // Random components over the characters that matter, including truncated and invalid escapes (a failure
        // names its component, to be added to the list above).
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("%+aF09zG-_.é").map(String.init)
        for _ in 0..<2_000 {
            components.append(
                (0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                    .joined()
            )
        }
        for component in components {
            let spaced = plus == .space ? component.replacingOccurrences(of: "+", with: " ") : component
            let foundation = spaced.removingPercentEncoding
            let expected = foundation?.contains("\u{FFFD}") == true ? nil : foundation
            #expect(
                PercentDecoding.decode(Substring(component).utf8, plus: plus) == expected,
                "component \(component.debugDescription)"
            )
            #expect(PercentDecoding.decode(component, plus: plus) == expected)
        }
    }

    @Test func plusIsASpaceOnlyWhenAsked() {
        #expect(PercentDecoding.decode("a+b%2B") == "a+b+")
        #expect(PercentDecoding.decode("a+b%2B", plus: .space) == "a b+")
        #expect(PercentDecoding.decode("a+b", plus: .space) == "a b")
    }

    @Test func textWithoutEscapesIsReturnedAsIs() {
        #expect(PercentDecoding.decode("") == "")
        #expect(PercentDecoding.decode("eyJhbGciOi.J9-_~") == "eyJhbGciOi.J9-_~")
        #expect(PercentDecoding.decode(Substring("xxplainxx").dropFirst(2).dropLast(2)) == "plain")
    }

    @Test func malformedEscapesAndNonUTF8AreRefused() {
        for bad in ["%", "%4", "%zz", "%ZZ", "a%2", "%FF", "%E2%82", "%C0%AF", "%ED%A0%80", "%FaG", "%a9", "x%A9y"] {
            #expect(PercentDecoding.decode(bad) == nil, "\(bad)")
            #expect(PercentDecoding.decode(bad, plus: .space) == nil, "\(bad)")
        }
    }
}
