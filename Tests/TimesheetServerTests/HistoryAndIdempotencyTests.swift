import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI

/// `Idempotency-Key` on the two creating routes, `created_by`, and `GET /timesheets/{id}/history`.
@Suite struct IdempotencyRouteTests {
    let entry = #"{"date":"2017-05-10","project":"StoreZero","hours":5}"#
    let key = HTTPField.Name("Idempotency-Key")!
    let replayed = HTTPField.Name("Idempotent-Replayed")!

    func headers(_ api: APIHarness, _ role: Role, key value: String?) -> HTTPFields {
        var fields = api.headers(role)
        if let value { fields[key] = value }
        return fields
    }

    @Test func aRepeatedCreateReplaysTheFirstAnswerAndCreatesNothing() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let first = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .employee, key: "8e03978e-40d5-43e8-bc93-6894a57f9324"),
                body: body(entry)
            )
            #expect(first.status == .created)
            #expect(first.headers[replayed] == nil)
            let id = try #require(first.json["id"] as? Int)
            #expect(first.headers[.location] == "/timesheets/\(id)")
            #expect(first.json["created_by"] as? String == "auth0|employee")
            for value in ["8e03978e-40d5-43e8-bc93-6894a57f9324", #""8e03978e-40d5-43e8-bc93-6894a57f9324""#] {
                let again = try await client.execute(
                    uri: "/timesheets",
                    method: .post,
                    headers: headers(api, .employee, key: value),
                    body: body(entry)
                )
                #expect(again.status == .created)
                #expect(again.headers[replayed] == "true")
                #expect(again.headers[.location] == "/timesheets/\(id)")
                #expect(again.headers[.contentType] == "application/json; charset=utf-8")
                #expect(again.body == first.body, "the same bytes again")
            }
            #expect(await api.repository.count == 1)
            // Without the header nothing changes: every request creates.
            for _ in 0..<2 {
                let plain = try await client.execute(
                    uri: "/timesheets",
                    method: .post,
                    headers: api.headers(.employee),
                    body: body(#"{"date":"2017-05-11","project":"StoreZero","hours":1}"#)
                )
                #expect(plain.status == .created && plain.headers[replayed] == nil)
            }
            #expect(await api.repository.count == 3)
        }
    }

    @Test func aKeyReusedForAnotherRequestIs422() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            _ = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .employee, key: "k-1"),
                body: body(entry)
            )
            let otherBody = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .employee, key: "k-1"),
                body: body(#"{"date":"2017-05-10","project":"StoreZero","hours":6}"#)
            )
            #expect(otherBody.status == .unprocessableContent)
            #expect(otherBody.headers[.contentType] == "application/problem+json")
            #expect(otherBody.json["code"] as? String == "idempotency_key_reused")
            #expect((otherBody.json["detail"] as? String)?.contains("'k-1'") == true)
            // Keys are the caller's own: the contractor's k-1 is another key.
            let contractor = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .contractor, key: "k-1"),
                body: body(entry)
            )
            #expect(contractor.status == .created && contractor.headers[replayed] == nil)
            #expect(contractor.json["user_id"] as? String == "auth0|contractor")
            #expect(await api.repository.count == 2)
        }
    }

    @Test func aRefusedRequestLeavesItsKeyUnused() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let invalid = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .employee, key: "retry"),
                body: body(#"{"date":"2017-05-10","project":"StoreZero","hours":25}"#)
            )
            #expect(invalid.status == .badRequest)
            let fixed = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .employee, key: "retry"),
                body: body(entry)
            )
            #expect(fixed.status == .created && fixed.headers[replayed] == nil)
        }
    }

    @Test func malformedKeysAre400AndChangeNothing() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let tooLong = String(repeating: "k", count: 256)
            for bad in ["", "  ", tooLong, "caf\u{E9}", "tab\tinside", #""open"#, #""a"b""#, #""\x""#, #""""#] {
                let response = try await client.execute(
                    uri: "/timesheets",
                    method: .post,
                    headers: headers(api, .employee, key: bad),
                    body: body(entry)
                )
                #expect(response.status == .badRequest, "\(bad.prefix(20))")
                #expect(response.json["code"] as? String == "invalid_idempotency_key", "\(bad.prefix(20))")
            }
            var twice = api.headers(.employee)
            twice.append(HTTPField(name: key, value: "a"))
            twice.append(HTTPField(name: key, value: "b"))
            let response = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: twice,
                body: body(entry)
            )
            #expect(response.status == .badRequest && response.json["code"] as? String == "invalid_idempotency_key")
            #expect(await api.repository.count == 0)
            let longest = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers(api, .employee, key: String(repeating: "~", count: 255)),
                body: body(entry)
            )
            #expect(longest.status == .created, "255 printable characters are a key")
        }
    }

    @Test func aRetriedUploadStoresNothingTwiceAndRecordsTheMachineAsCreator() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let upload =
                #"[{"user_id":"auth0|employee","date":"2017-05-10","project":"P","hours":1},"#
                + #"{"user_id":"auth0|contractor","date":"2017-05-10","project":"P","hours":2}]"#
            var bodies: [ByteBuffer] = []
            for attempt in 0..<3 {
                let response = try await client.execute(
                    uri: "/timesheets/upload",
                    method: .post,
                    headers: headers(api, .machine, key: "nightly-2017-05-10"),
                    body: body(upload)
                )
                #expect(response.status == .created)
                #expect(response.headers[replayed] == (attempt == 0 ? nil : "true"))
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.map { $0["created_by"] as? String } == ["batch-client@clients", "batch-client@clients"])
                #expect(items.map { $0["user_id"] as? String } == ["auth0|employee", "auth0|contractor"])
                bodies.append(response.body)
            }
            #expect(Set(bodies).count == 1)
            #expect(await api.repository.count == 2)
        }
    }
}

extension IdempotencyRouteTests {
    /// A browser client on an allowed origin may send the key and read whether its answer was replayed.
    @Test func browsersOnAllowedOriginsMaySendKeysAndReadReplays() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let preflight = try await client.execute(
                uri: "/timesheets",
                method: .options,
                headers: [
                    .origin: "http://localhost:4200", .accessControlRequestMethod: "POST",
                    .accessControlRequestHeaders: "authorization,content-type,idempotency-key",
                ]
            )
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Idempotency-Key") == true)
            var fields = headers(api, .employee, key: "cors-key")
            fields[.origin] = "http://localhost:4200"
            let created = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: fields,
                body: body(entry)
            )
            #expect(created.headers[.accessControlExposeHeaders]?.contains("Idempotent-Replayed") == true)
        }
    }
}

@Suite struct HistoryRouteTests {
    func create(_ api: APIHarness, _ client: any TestClientProtocol, _ role: Role) async throws -> Int {
        let response = try await client.execute(
            uri: "/timesheets",
            method: .post,
            headers: api.headers(role),
            body: body(#"{"date":"2017-05-10","project":"StoreZero","hours":5}"#)
        )
        return try #require(response.json["id"] as? Int)
    }

    func history(
        _ api: APIHarness,
        _ client: any TestClientProtocol,
        _ id: Int,
        as role: Role
    ) async throws
        -> TestResponse
    {
        try await client.execute(uri: "/timesheets/\(id)/history", method: .get, headers: api.headers(role))
    }

    @Test func theOwnerAndReviewersSeeEveryChangeOldestFirst() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let id = try await create(api, client, .employee)
            let patch = try await client.execute(
                uri: "/timesheets/\(id)",
                method: .patch,
                headers: api.headers(.employee),
                body: body(#"{"hours":6.5,"notes":"late shift"}"#)
            )
            #expect(patch.status == .ok)
            let approve = try await client.execute(
                uri: "/approvals/\(id)",
                method: .put,
                headers: api.headers(.manager)
            )
            #expect(approve.status == .ok)
            for role in [Role.employee, .manager] {
                let response = try await history(api, client, id, as: role)
                #expect(response.status == .ok)
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.map { $0["action"] as? String } == ["created", "updated", "approved"])
                #expect(items.map { $0["actor"] as? String } == ["auth0|employee", "auth0|employee", "auth0|manager"])
                #expect(items.allSatisfy { ($0["at"] as? String)?.hasSuffix("Z") == true })
                let before = try #require(items[1]["before"] as? [String: Any])
                let after = try #require(items[1]["after"] as? [String: Any])
                #expect(before["hours"] as? Double == 5 && after["hours"] as? Double == 6.5)
                #expect(before["notes"] is NSNull && after["notes"] as? String == "late shift")
                #expect(Set(before.keys) == ["hours", "notes"] && Set(after.keys) == ["hours", "notes"])
                #expect(items[0]["before"] == nil && items[2]["reason"] == nil)
            }
        }
    }

    @Test func anyoneElseGets404LikeTheEntry() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let id = try await create(api, client, .employee)
            for path in ["/timesheets/\(id)/history", "/timesheets/999999/history", "/timesheets/abc/history"] {
                let response = try await client.execute(uri: path, method: .get, headers: api.headers(.contractor))
                #expect(response.status == .notFound, "\(path)")
                #expect(response.json["code"] as? String == "not_found")
            }
            let machine = try await history(api, client, id, as: .machine)
            #expect(machine.status == .forbidden, "the route needs read:timesheets")
        }
    }

    @Test func rejectionsKeepTheirReasonAndDeletedEntriesKeepTheirHistory() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let rejected = try await create(api, client, .contractor)
            _ = try await client.execute(
                uri: "/approvals/\(rejected)/reject",
                method: .post,
                headers: api.headers(.manager),
                body: body(#"{"reason":"Wrong project"}"#)
            )
            let rejection = try await history(api, client, rejected, as: .contractor)
            let items = try #require(rejection.json["items"] as? [[String: Any]])
            #expect(
                items.last?["action"] as? String == "rejected" && items.last?["reason"] as? String == "Wrong project"
            )

            let deleted = try await create(api, client, .employee)
            let gone = try await client.execute(
                uri: "/timesheets/\(deleted)",
                method: .delete,
                headers: api.headers(.employee)
            )
            #expect(gone.status == .noContent)
            for role in [Role.employee, .manager] {
                let response = try await history(api, client, deleted, as: role)
                #expect(response.status == .ok)
                let actions = (response.json["items"] as? [[String: Any]] ?? []).map { $0["action"] as? String }
                #expect(actions == ["created", "deleted"])
            }
            #expect(try await history(api, client, deleted, as: .contractor).status == .notFound)
        }
    }
}

@Suite struct IdempotencyKeyHeaderTests {
    @Test func keysAreBareOrQuotedPrintableASCII() throws {
        #expect(try IdempotencyKey.parse("abc") == "abc")
        #expect(try IdempotencyKey.parse(#""abc""#) == "abc")
        #expect(try IdempotencyKey.parse(#""a\"b\\c""#) == #"a"b\c"#)
        #expect(try IdempotencyKey.parse("  spaced key ") == "spaced key")
        #expect(try IdempotencyKey.parse(#"" ""#) == " ")
        for bad in ["", #""""#, "\u{7F}", "a\u{0}b", "ünï", #""a"#, #""a\b""#, String(repeating: "x", count: 256)] {
            #expect(throws: Problem.self, "\(bad.prefix(10))") { try IdempotencyKey.parse(bad) }
        }
    }

    @Test func theDigestIsTheBodysSHA256() {
        let digest = IdempotencyKey.digest(of: ByteBuffer(string: "abc"))
        let hex = digest.map { String(format: "%02x", $0) }.joined()
        #expect(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
