import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TimesheetDomainTesting

@testable import TimesheetAPI

@Suite struct StrictJSONTests {
    @Test(
        "Duplicate keys are found at any depth, also when spelled with escapes",
        arguments: [
            #"{"hours":5,"hours":6}"#, #"{"hours":5,"hour\u0073":6}"#, #"[{"a":1},{"b":{"c":1,"c":2}}]"#,
        ]
    )
    func duplicateKeys(_ json: String) {
        guard case .duplicateKey? = StrictJSON.firstViolation(in: Array(json.utf8)) else {
            Issue.record("no duplicate key found in \(json)")
            return
        }
    }

    @Test(
        "Equal keys in sibling objects, and keys inside strings, are fine",
        arguments: [
            #"[{"a":1},{"a":2}]"#, #"{"a":{"a":1}}"#, #"{"notes":"\"a\":1,\"a\":2"}"#, #"{"a":"}","b":"{"}"#,
        ]
    )
    func noViolation(_ json: String) {
        #expect(StrictJSON.firstViolation(in: Array(json.utf8)) == nil)
    }

    @Test func invalidUTF8AndDeepNesting() {
        #expect(
            StrictJSON.firstViolation(in: Array(#"{"project":""#.utf8) + [0xFF] + Array(#""}"#.utf8)) == .invalidUTF8
        )
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(StrictJSON.firstViolation(in: Array(deep.utf8)) == .tooDeep)
        let fine = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(StrictJSON.firstViolation(in: Array(fine.utf8)) == nil)
    }

    @Test(
        "A top-level array's elements are counted, whatever they hold",
        arguments: [
            ("[]", 0), ("[ ]", 0), ("[{}]", 1), ("[1, 2,3]", 3), (#"["a,b", {"c":[1,2,3]}, [4,5]]"#, 3),
            ("[\n{}\n,\t{} ]", 2),
            (#"{"a":[1,2,3,4]}"#, 0),
        ]
    )
    func elementsAreCounted(_ json: String, count: Int) {
        #expect(StrictJSON.firstViolation(in: Array(json.utf8), maximumElements: count) == nil, "\(json)")
        if count > 0 {
            #expect(
                StrictJSON.firstViolation(in: Array(json.utf8), maximumElements: count - 1) == .tooManyElements,
                "\(json)"
            )
        }
    }

    @Test func valuesNestedInsideFieldsAreBounded() {
        let limit = StrictJSON.maximumNestedValues
        // Inside one field: `limit` values pass (validation then reports the field), one more is refused whole.
        let atLimit = #"{"hours":["# + Array(repeating: "1", count: limit - 1).joined(separator: ",") + "]}"
        #expect(StrictJSON.firstViolation(in: Array(atLimit.utf8)) == nil)
        let over = #"{"hours":["# + Array(repeating: "1", count: limit + 1).joined(separator: ",") + "]}"
        #expect(StrictJSON.firstViolation(in: Array(over.utf8)) == .tooManyNestedValues)
        let arrays = #"[{"hours":["# + Array(repeating: "[]", count: limit + 1).joined(separator: ",") + "]}]"
        #expect(StrictJSON.firstViolation(in: Array(arrays.utf8)) == .tooManyNestedValues)
        // The structure itself never counts: a batch's entries, and the fields of each entry.
        let batch =
            "["
            + Array(
                repeating: #"{"user_id":"u","date":"2017-05-10","project":"P","hours":1,"notes":null}"#,
                count: 5_000
            )
            .joined(separator: ",") + "]"
        #expect(StrictJSON.firstViolation(in: Array(batch.utf8), maximumElements: 10_000) == nil)
    }

    @Test func theCountStopsAtTheFirstElementTooMany() {
        // The rest, however long or broken, is never read.
        let json = "[{},{},{}," + String(repeating: "x", count: 100_000)
        #expect(StrictJSON.firstViolation(in: Array(json.utf8), maximumElements: 2) == .tooManyElements)
    }

    @Test func duplicateFieldsAre400AndStoreNothing() async throws {
        try await APIHarness.run { api, client in
            for (type, text) in [
                ("application/json", #"{"date":"2017-05-10","project":"P","hours":5,"hours":6}"#),
                ("application/x-www-form-urlencoded", "date=2017-05-10&project=P&hours=5&hours=6"),
            ] {
                var headers = api.headers(.employee)
                headers[.contentType] = type
                try await client.execute(
                    uri: "/timesheets",
                    method: .post,
                    headers: headers,
                    body: ByteBuffer(string: text)
                ) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.json["code"] as? String == "duplicate_key")
                }
            }
            #expect(await api.repository.count == 0)
        }
    }
}
