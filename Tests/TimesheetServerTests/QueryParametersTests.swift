import Foundation
import HTTPTypes
import Testing

@testable import TimesheetAPI

@Suite struct QueryParametersTests {
    @Test func firstValueWinsAndBareNamesAreEmpty() throws {
        let query = try QueryParameters("limit=5&project=Store+Zero&limit=9&flag&&empty=&a=b=c")
        #expect(query["limit"] == "5")
        #expect(query["project"] == "Store Zero")
        #expect(query["flag"] == "")
        #expect(query["empty"] == "")
        #expect(query["a"] == "b=c")
        #expect(query["missing"] == nil)
        #expect(try QueryParameters(nil)["limit"] == nil)
        #expect(try QueryParameters("")["limit"] == nil)
        #expect(try QueryParameters("pro%6Aect=x")["project"] == "x", "names are decoded too")
    }

    /// The decoder replaced `replacingOccurrences(of: "+", with: " ").removingPercentEncoding`; it must agree with it
    /// on every component, accepting and refusing the same ones, except that Foundation sometimes turns escapes that
    /// are not UTF-8 into U+FFFD (`%Fa` followed by text) where we refuse them, as the API has always promised.
    @Test func agreesWithFoundationOnEveryComponent() throws {
        var components = [
            "", "plain", "Store+Zero", "%2B", "a%20b", "%e2%82%ac", "%E2%82%AC", "caf%C3%A9", "%00", "%7e", "100%",
            "%", "%4", "%G1", "%1G", "%%41", "%FF", "%C0%AF", "%E2%82", "%ED%A0%80", "%F4%90%80%80", "'%3B--", "..%2F..",
            "é", "日本", "+%2B+", "%2b%2B", "%FaG", "%C3", "%C3x",
        ]
        // Random components over the characters that matter, including truncated and invalid escapes (a failure
        // names its component, to be added to the list above).
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("%+aF09zG-_.é").map(String.init)
        for _ in 0..<2_000 {
            components.append((0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }.joined())
        }
        for component in components {
            let foundation = component.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            let expected = foundation?.contains("\u{FFFD}") == true ? nil : foundation
            let got = try? QueryParameters.decode(Substring(component).utf8)
            #expect(got == expected, "component \(component.debugDescription)")
        }
    }

    @Test func malformedEscapesAreA400WithACode() {
        for bad in ["project=%FF", "status=%E2%82", "x=%", "x=%4", "x=%zz", "%ZZ=1"] {
            #expect {
                _ = try QueryParameters(bad)
            } throws: { error in
                (error as? Problem)?.code == "malformed_query" && (error as? Problem)?.status == .badRequest
            }
        }
    }
}
