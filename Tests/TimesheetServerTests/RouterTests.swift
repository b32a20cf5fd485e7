import AuthKit
import AuthKitTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI

/// What the routes do. Most run with fake callers (the authentication seam, ``FakeIdentityVerifier``); those about
/// tokens and scopes run with real RS256 tokens from a JWKS server.
@Suite struct TimesheetRouteTests {
    let entry = #"{"date":"2017-05-10","project":"StoreZero","hours":5}"#

    @Test func createAsEmployeeReturnsTheEntryWithLocation() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(entry)
            ) { response in
                #expect(response.status == .created)
                let json = response.json
                let id = try #require(json["id"] as? Int)
                #expect(response.headers[.location] == "/timesheets/\(id)")
                #expect(json["user_id"] as? String == "auth0|employee")
                #expect(json["approved"] as? Bool == false)
                #expect(json["status"] as? String == "pending")
                #expect(json["hours"] as? Double == 5)
                #expect(json["date"] as? String == "2017-05-10")
                #expect(response.headers[.xRequestID] != nil)
            }
        }
    }

    @Test func formBodiesAreAccepted() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            var headers = api.headers(.employee, json: false)
            headers[.contentType] = "application/x-www-form-urlencoded"
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: headers,
                body: body("date=2017-05-10&project=Store+Zero&hours=7.5")
            ) { response in
                #expect(response.status == .created)
                #expect(response.json["project"] as? String == "Store Zero")
                #expect(response.json["hours"] as? Double == 7.5)
            }
            // Escapes are decoded as in a query string: they must spell UTF-8 (`%A9` alone does not; Foundation's
            // decoder used to turn it into U+FFFD and store that).
            for bad in ["project=%A9&date=2017-05-10&hours=1", "project=A%FF&date=2017-05-10&hours=1", "project=%4"] {
                try await client.execute(uri: "/timesheets", method: .post, headers: headers, body: body(bad)) {
                    response in
                    #expect(response.status == .badRequest, "\(bad)")
                    #expect(response.json["code"] as? String == "malformed_form", "\(bad)")
                }
            }
        }
    }

    @Test func missingTokenIs401WithABareChallenge() async throws {
        try await APIHarness.run { api, client in
            try await client.execute(uri: "/timesheets", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="api""#)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.json["status"] as? Int == 401)
            }
            try await client.execute(uri: "/timesheets", method: .get, headers: [.authorization: "Bearer not.a.jwt"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
                #expect(response.json["code"] as? String == "invalid_token")
            }
            let other = api.token(.employee, audience: "https://api.exampleco.com/other")
            try await client.execute(uri: "/timesheets", method: .get, headers: [.authorization: "Bearer \(other)"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.contains("Unexpected 'aud' value") == true)
            }
            #expect(await api.repository.count == 0)
        }
    }

    @Test func missingScopeIs403InsufficientScope() async throws {
        try await APIHarness.run { api, client in
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.reader),
                body: body(entry)
            ) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)
                #expect(response.headers[.wwwAuthenticate]?.contains(#"scope="create:timesheets""#) == true)
                #expect(response.json["code"] as? String == "insufficient_scope")
            }
            try await client.execute(uri: "/approvals", method: .get, headers: api.headers(.employee)) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.manager),
                body: body("[]")
            ) { response in
                #expect(response.status == .forbidden)
            }
            #expect(await api.repository.count == 0)
        }
    }

    @Test func invalidEntriesListEveryProblem() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let bad = #"{"date":"2017-02-30","project":"","hours":25,"colour":"red"}"#
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(bad)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.json["code"] as? String == "validation_failed")
                #expect(Set(response.problemFields) == ["date", "project", "hours", "colour"])
            }
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body("{\"date\":")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["code"] as? String == "malformed_json")
            }
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body("[1,2]")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["code"] as? String == "invalid_body")
            }
            var text = api.headers(.employee)
            text[.contentType] = "text/plain"
            try await client.execute(uri: "/timesheets", method: .post, headers: text, body: body(entry)) { response in
                #expect(response.status == .unsupportedMediaType)
            }
            #expect(await api.repository.count == 0)
        }
    }

    @Test func oversizedBodiesAre413() async throws {
        try await APIHarness.run(callers: .fake, bodyLimit: 1_000) { api, client in
            let notes = String(repeating: "x", count: 2_000)
            let big = #"{"date":"2017-05-10","project":"P","hours":1,"notes":"\#(notes)"}"#
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(big)
            ) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.json["code"] as? String == "body_too_large")
            }
            #expect(await api.repository.count == 0)
        }
    }

    @Test func ownersSeeOnlyTheirOwnEntries() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let id = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(entry)
            ) {
                try #require($0.json["id"] as? Int)
            }
            try await client.execute(uri: "/timesheets/\(id)", method: .get, headers: api.headers(.employee)) {
                response in
                #expect(response.status == .ok)
                #expect(response.json["id"] as? Int == id)
            }
            try await client.execute(uri: "/timesheets/\(id)", method: .get, headers: api.headers(.contractor)) {
                response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/timesheets/\(id)", method: .delete, headers: api.headers(.contractor)) {
                response in
                #expect(response.status == .notFound)
            }
            try await client.execute(
                uri: "/timesheets/\(id)",
                method: .patch,
                headers: api.headers(.contractor),
                body: body(#"{"hours":1}"#)
            ) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/timesheets", method: .get, headers: api.headers(.contractor)) { response in
                #expect((response.json["items"] as? [Any])?.isEmpty == true)
            }
            for bad in ["abc", "-1", "0", "99999999999999999999", "1.5", "%2e%2e%2fetc"] {
                try await client.execute(uri: "/timesheets/\(bad)", method: .get, headers: api.headers(.employee)) {
                    response in
                    #expect(response.status == .notFound, "\(bad)")
                }
            }
        }
    }

    @Test func listFiltersAndPaginates() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            for day in 1...5 {
                let item = #"{"date":"2017-05-0\#(day)","project":"\#(day % 2 == 0 ? "Even" : "Odd")","hours":1}"#
                try await client.execute(
                    uri: "/timesheets",
                    method: .post,
                    headers: api.headers(.employee),
                    body: body(item)
                ) {
                    #expect($0.status == .created)
                }
            }
            let cursor = try await client.execute(
                uri: "/timesheets?limit=2",
                method: .get,
                headers: api.headers(.employee)
            ) { response in
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.map { $0["date"] as? String } == ["2017-05-05", "2017-05-04"])
                return try #require(response.json["next_cursor"] as? String)
            }
            try await client.execute(
                uri: "/timesheets?limit=2&cursor=\(cursor)",
                method: .get,
                headers: api.headers(.employee)
            ) { response in
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.map { $0["date"] as? String } == ["2017-05-03", "2017-05-02"])
            }
            try await client.execute(
                uri: "/timesheets?project=Odd&from=2017-05-02&to=2017-05-05",
                method: .get,
                headers: api.headers(.employee)
            ) { response in
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.map { $0["date"] as? String } == ["2017-05-05", "2017-05-03"])
                #expect(response.json.keys.contains("next_cursor"))
                #expect(response.json["next_cursor"] is NSNull)
            }
            try await client.execute(
                uri: "/timesheets?limit=0&cursor=bogus&status=done&from=yesterday",
                method: .get,
                headers: api.headers(.employee)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Set(response.problemFields) == ["limit", "cursor", "status", "from"])
            }
        }
    }

    @Test func onlyPendingEntriesCanBeEditedOrDeleted() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let id = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(entry)
            ) {
                try #require($0.json["id"] as? Int)
            }
            try await client.execute(
                uri: "/timesheets/\(id)",
                method: .patch,
                headers: api.headers(.employee),
                body: body(#"{"hours":"6.25"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.json["hours"] as? Double == 6.25)
            }
            try await client.execute(
                uri: "/timesheets/\(id)",
                method: .put,
                headers: api.headers(.employee),
                body: body(#"{"hours":3}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Set(response.problemFields) == ["date", "project"])
            }
            try await client.execute(uri: "/approvals/\(id)", method: .put, headers: api.headers(.manager)) {
                response in
                #expect(response.status == .ok)
                #expect(response.json["approved"] as? Bool == true)
                #expect(response.json["reviewed_by"] as? String == "auth0|manager")
            }
            try await client.execute(
                uri: "/timesheets/\(id)",
                method: .put,
                headers: api.headers(.employee),
                body: body(entry)
            ) { response in
                #expect(response.status == .conflict)
                #expect(response.json["code"] as? String == "not_pending")
            }
            try await client.execute(uri: "/timesheets/\(id)", method: .delete, headers: api.headers(.employee)) {
                response in
                #expect(response.status == .conflict)
            }
            let second = try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(entry)
            ) {
                try #require($0.json["id"] as? Int)
            }
            try await client.execute(uri: "/timesheets/\(second)", method: .delete, headers: api.headers(.employee)) {
                response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/timesheets/\(second)", method: .delete, headers: api.headers(.employee)) {
                response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func theDailyCapIsAConflict() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let twenty = #"{"date":"2017-05-10","project":"P","hours":20}"#
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(twenty)
            ) {
                #expect($0.status == .created)
            }
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(entry)
            ) { response in
                #expect(response.status == .conflict)
                #expect(response.json["code"] as? String == "daily_limit_exceeded")
            }
        }
    }

    @Test func longErrorListsAreCutAndCounted() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let unknown = (0..<150).map { #""x\#($0)":1"# }.joined(separator: ",")
            let text = #"{"date":"2017-05-10","project":"P","hours":5,"# + unknown + "}"
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(text)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["error_count"] as? Int == 150)
                #expect((response.json["errors"] as? [Any])?.count == Problem.maximumListedErrors)
                #expect((response.json["detail"] as? String)?.contains("150") == true)
            }
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: api.headers(.employee),
                body: body(#"{"hours":30}"#)
            ) { response in
                #expect(response.json["error_count"] as? Int == 3)
                #expect((response.json["errors"] as? [Any])?.count == 3)
            }
            #expect(await api.repository.count == 0)
        }
    }

    @Test func uploadsOfMoreThanTheBatchSizeAreRefusedBeforeDecoding() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let text = "[" + Array(repeating: "{}", count: TimesheetRules.maxBatchSize + 1).joined(separator: ",") + "]"
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.machine),
                body: body(text)
            ) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.json["code"] as? String == "too_many_entries")
            }
            #expect(await api.repository.count == 0)
        }
    }

    @Test func answersAreNeitherStoredNorSniffed() async throws {
        try await APIHarness.run { api, client in
            for (uri, headers) in [("/timesheets", api.headers(.employee)), ("/timesheets", [:]), ("/nowhere", [:])] {
                try await client.execute(uri: uri, method: .get, headers: headers) { response in
                    #expect(response.headers[.cacheControl] == "no-store", "\(uri) \(response.status)")
                    #expect(
                        response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff",
                        "\(uri) \(response.status)"
                    )
                }
            }
        }
    }

    @Test func batchUploadIsAllOrNothing() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let single = #"{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}"#
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.machine),
                body: body(single)
            ) { response in
                #expect(response.status == .created)
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.first?["user_id"] as? String == "007")
                #expect(items.first?["date"] as? String == "2017-05-10")
            }
            let mixed =
                #"[{"user_id":"a","date":"2017-05-10","project":"P","hours":1},"#
                + #"{"date":"x","project":"P","hours":99},"#
                + #"{"user_id":"c","date":"2017-05-10","project":"P","hours":1}]"#
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.machine),
                body: body(mixed)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.problemFields == ["[1].user_id", "[1].date", "[1].hours"])
            }
            #expect(await api.repository.count == 1)
            let many =
                "["
                + (1...3).map { #"{"user_id":"u\#($0)","date":"2017-05-10","project":"P","hours":8}"# }.joined(
                    separator: ","
                ) + "]"
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.machine),
                body: body(many)
            ) { response in
                #expect(response.status == .created)
                #expect((response.json["items"] as? [Any])?.count == 3)
            }
            #expect(await api.repository.count == 4)
        }
    }

    /// The reference deployment: users are identified by the namespaced email claim, and the batch client's
    /// client-credentials token has none. Its uploads (the cron client's single object, and an array) must work.
    @Test func referenceConfigurationUploadsWithAClientCredentialsToken() async throws {
        let configureAuth: @Sendable (inout AuthConfiguration) -> Void = { $0.userIDClaim = emailClaim }
        try await APIHarness.run(configureAuth: configureAuth) { api, client in
            let single =
                #"{"user_id":"employee@exampleco.com","date":"2017-05-10T17:40:20.095Z","#
                + #""project":"StoreZero","hours":5}"#
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.machine),
                body: body(single)
            ) { response in
                #expect(response.status == .created)
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.first?["user_id"] as? String == "employee@exampleco.com")
            }
            let array =
                #"[{"user_id":"employee@exampleco.com","date":"2017-05-11","project":"StoreZero","hours":2},"#
                + #"{"user_id":"contractor@exampleco.com","date":"2017-05-11","project":"StoreZero","hours":3}]"#
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: api.headers(.machine),
                body: body(array)
            ) { response in
                #expect(response.status == .created)
                #expect((response.json["items"] as? [Any])?.count == 2)
            }
            // The employee, identified by email, sees what the machine uploaded for them.
            try await client.execute(uri: "/timesheets", method: .get, headers: api.headers(.employee)) { response in
                #expect(response.status == .ok)
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.count == 2)
                #expect(items.allSatisfy { $0["user_id"] as? String == "employee@exampleco.com" })
            }
            try await client.execute(uri: "/me", method: .get, headers: api.headers(.machine)) { response in
                #expect(response.status == .ok)
                #expect(response.json["user_id"] as? String == "batch-client@clients")
            }
            // A user's token without the email claim is still refused.
            let noEmail = api.token(subject: "auth0|someone", scope: "read:timesheets")
            try await client.execute(uri: "/timesheets", method: .get, headers: [.authorization: "Bearer \(noEmail)"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(response.json["detail"] as? String == "Missing 'https://api.exampleco.com/email' claim")
            }
            #expect(await api.repository.count == 3)
        }
    }

    /// AUTH_ALGORITHMS=ES512 with a P-521 key in the JWKS.
    @Test func anES512TokenFromTheJWKSIsServed() async throws {
        let configureAuth: @Sendable (inout AuthConfiguration) -> Void = { $0.algorithms = ["ES512"] }
        try await APIHarness.run(configureAuth: configureAuth) { api, client in
            let issuer = api.issuer
            if !String(decoding: issuer.jwks(), as: UTF8.self).contains(issuer.keyID(for: .es512)) {
                issuer.addJWKEntry(issuer.jwk(for: .es512))
            }
            let token = api.token(
                subject: "auth0|es512",
                scope: "read:timesheets create:timesheets",
                signer: .extra(.es512)
            )
            let headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            try await client.execute(uri: "/timesheets", method: .post, headers: headers, body: body(entry)) {
                response in
                #expect(response.status == .created)
                #expect(response.json["user_id"] as? String == "auth0|es512")
            }
            // An RS256 token is refused under this configuration.
            try await client.execute(uri: "/timesheets", method: .get, headers: api.headers(.employee)) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    /// Auth0's quickstart trio: open, any valid token, and a token with read:messages.
    @Test func quickstartMessagesArePublicPrivateAndScoped() async throws {
        try await APIHarness.run { api, client in
            try await client.execute(uri: "/api/public", method: .get) { response in
                #expect(response.status == .ok)
                #expect((response.json["message"] as? String)?.contains("public endpoint") == true)
            }
            try await client.execute(uri: "/api/private", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="api""#)
            }
            try await client.execute(uri: "/api/private", method: .get, headers: api.headers(.machine)) { response in
                #expect(response.status == .ok)
                #expect((response.json["message"] as? String)?.contains("need to be authenticated") == true)
            }
            try await client.execute(uri: "/api/private-scoped", method: .get, headers: api.headers(.manager)) {
                response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.wwwAuthenticate]?.contains(#"scope="read:messages""#) == true)
                #expect(response.json["code"] as? String == "insufficient_scope")
            }
            let reader = api.token(subject: "auth0|reader", scope: "openid read:messages")
            try await client.execute(
                uri: "/api/private-scoped",
                method: .get,
                headers: [.authorization: "Bearer \(reader)"]
            ) { response in
                #expect(response.status == .ok)
                #expect((response.json["message"] as? String)?.contains("read:messages") == true)
            }
        }
    }

    @Test func reviewQueueApproveAndReject() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            var ids: [Int] = []
            for role in [Role.employee, .contractor] {
                ids.append(
                    try await client.execute(
                        uri: "/timesheets",
                        method: .post,
                        headers: api.headers(role),
                        body: body(entry)
                    ) {
                        try #require($0.json["id"] as? Int)
                    }
                )
            }
            try await client.execute(uri: "/approvals", method: .get, headers: api.headers(.manager)) { response in
                let items = try #require(response.json["items"] as? [[String: Any]])
                #expect(items.map { $0["id"] as? Int } == ids)
            }
            let approved = try await client.execute(
                uri: "/approvals/\(ids[0])",
                method: .put,
                headers: api.headers(.manager)
            ) { $0.text }
            try await client.execute(uri: "/approvals/\(ids[0])", method: .put, headers: api.headers(.manager)) {
                response in
                #expect(response.status == .ok)
                #expect(response.text == approved, "approving again returns the entry unchanged")
            }
            try await client.execute(
                uri: "/approvals/\(ids[1])/reject",
                method: .post,
                headers: api.headers(.manager),
                body: body(#"{"reason":"Wrong project"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.json["status"] as? String == "rejected")
                #expect(response.json["rejection_reason"] as? String == "Wrong project")
            }
            try await client.execute(
                uri: "/approvals/\(ids[0])/reject",
                method: .post,
                headers: api.headers(.manager, json: false)
            ) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(
                uri: "/approvals/\(ids[1])/reject",
                method: .post,
                headers: api.headers(.manager),
                body: body(#"{"why":"x"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.problemFields == ["why"])
            }
            try await client.execute(uri: "/approvals/424242", method: .put, headers: api.headers(.manager)) {
                response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/approvals", method: .get, headers: api.headers(.manager)) { response in
                #expect((response.json["items"] as? [Any])?.isEmpty == true)
            }
        }
    }

    @Test func weeklySummary() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            for (date, hours) in [("2017-05-08", 2), ("2017-05-10", 3), ("2017-05-15", 4)] {
                let item = #"{"date":"\#(date)","project":"StoreZero","hours":\#(hours)}"#
                try await client.execute(
                    uri: "/timesheets",
                    method: .post,
                    headers: api.headers(.employee),
                    body: body(item)
                ) { _ in }
            }
            try await client.execute(
                uri: "/timesheets/summary?from=2017-05-01&to=2017-05-31",
                method: .get,
                headers: api.headers(.employee)
            ) { response in
                #expect(response.status == .ok)
                let weeks = try #require(response.json["weeks"] as? [[String: Any]])
                #expect(weeks.map { $0["week"] as? String } == ["2017-W19", "2017-W20"])
                #expect(weeks.map { $0["hours"] as? Double } == [5, 4])
                #expect(weeks.first?["week_start"] as? String == "2017-05-08")
            }
            try await client.execute(
                uri: "/timesheets/summary?from=2015-01-01&to=2017-05-31",
                method: .get,
                headers: api.headers(.employee)
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}

@Suite struct SystemRouteTests {
    @Test func meDescribesTheCaller() async throws {
        try await APIHarness.run { api, client in
            try await client.execute(uri: "/me", method: .get, headers: api.headers(.machine)) { response in
                #expect(response.status == .ok)
                #expect(response.json["subject"] as? String == "batch-client@clients")
                #expect(response.json["is_machine"] as? Bool == true)
                #expect(response.json["permissions"] as? [String] == ["batch:upload"])
            }
            try await client.execute(uri: "/me", method: .get) { #expect($0.status == .unauthorized) }
        }
    }

    @Test func healthNeedsNoToken() async throws {
        try await APIHarness.run { api, client in
            try await client.execute(uri: "/health/live", method: .get) { #expect($0.status == .ok) }
            // The readiness check loads the keys itself when none are loaded yet.
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json["status"] as? String == "ready")
            }
            #expect(api.server.jwksRequestCount == 1)
        }
    }

    @Test func readinessIsRedWhileTheIdentityProviderIsDown() async throws {
        try await APIHarness.run { api, client in
            api.server.setFailureMode(.unavailable)
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                #expect(
                    (response.json["checks"] as? [String: String])?["signing_keys"]?.hasPrefix("no signing keys")
                        == true
                )
            }
        }
    }

    @Test func badContentTypesAre415NeverACrash() async throws {
        try await APIHarness.run { api, client in
            for type in [";", "", " ; charset=utf-8", "application/jsonx", "text/plain"] {
                var headers = api.headers(.employee)
                headers[.contentType] = type
                try await client.execute(uri: "/timesheets", method: .post, headers: headers, body: body("{}")) {
                    response in
                    #expect(response.status == .unsupportedMediaType, "content type '\(type)'")
                }
            }
            var noType = api.headers(.manager, json: false)
            noType[.contentLength] = "17"
            try await client.execute(
                uri: "/approvals/1/reject",
                method: .post,
                headers: noType,
                body: body(#"{"reason":"why"}"#)
            ) { response in
                #expect(response.status == .unsupportedMediaType, "a body without a type is refused, not dropped")
            }
        }
    }

    @Test func mediaTypesAreReadWithoutRegardToCaseOrSpacesAroundThem() async throws {
        try await APIHarness.run { api, client in
            let types = ["Application/JSON", "\tapplication/json ; charset=utf-8", "APPLICATION/JSON;charset=UTF-8"]
            for (day, type) in types.enumerated() {
                var headers = api.headers(.employee)
                headers[.contentType] = type
                let entry = #"{"date":"2017-06-1\#(day)","project":"Case","hours":true}"#
                try await client.execute(uri: "/timesheets", method: .post, headers: headers, body: body(entry)) {
                    response in
                    // Read as JSON, so the boolean hours reach validation (a form would carry text).
                    #expect(response.status == .badRequest, "content type '\(type)'")
                    #expect(response.problemFields == ["hours"], "content type '\(type)'")
                }
            }
            var form = api.headers(.employee)
            form[.contentType] = " Application/X-WWW-Form-URLEncoded "
            try await client.execute(
                uri: "/timesheets",
                method: .post,
                headers: form,
                body: body("date=2017-06-20&project=Form&hours=2")
            ) { response in
                #expect(response.status == .created)
            }
        }
    }

    @Test func unknownMethodsDoNotGrowTheMetrics() async throws {
        try await APIHarness.run { _, client in
            for index in 0..<3 {
                try await client.execute(uri: "/health/live", method: HTTPRequest.Method("X\(index)")!) { _ in }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(!response.text.contains(#"method="X0""#))
                #expect(response.text.contains(#"method="OTHER""#))
            }
        }
    }

    @Test func requestIDsAreEchoedOrMade() async throws {
        try await APIHarness.run { _, client in
            try await client.execute(uri: "/health/live", method: .get, headers: [.xRequestID: "abc-123"]) {
                #expect($0.headers[.xRequestID] == "abc-123")
            }
            try await client.execute(uri: "/health/live", method: .get, headers: [.xRequestID: "bad id\u{7}"]) {
                #expect($0.headers[.xRequestID] != "bad id\u{7}")
                #expect($0.headers[.xRequestID]?.count == 33)  // 16 hex digits, "-", 16 hex digits
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.json["request_id"] as? String == response.headers[.xRequestID])
            }
        }
    }

    @Test func corsPreflightNeedsNoToken() async throws {
        try await APIHarness.run { api, client in
            let preflight: HTTPFields = [
                .origin: "http://localhost:4200", .accessControlRequestMethod: "POST",
                .accessControlRequestHeaders: "authorization,content-type",
            ]
            try await client.execute(uri: "/timesheets", method: .options, headers: preflight) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == "http://localhost:4200")
                #expect(response.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            }
            var headers = api.headers(.employee)
            headers[.origin] = "http://localhost:4200"
            try await client.execute(uri: "/timesheets", method: .get, headers: headers) {
                #expect($0.headers[.accessControlAllowOrigin] == "http://localhost:4200")
            }
            try await client.execute(
                uri: "/timesheets",
                method: .options,
                headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"]
            ) {
                #expect($0.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test func metricsCountRequestsAndAuthFailures() async throws {
        try await APIHarness.run { api, client in
            try await client.execute(uri: "/timesheets", method: .get) { _ in }
            try await client.execute(uri: "/timesheets", method: .get, headers: api.headers(.employee)) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(
                    response.text.contains(#"http_requests_total{method="GET",route="/timesheets",status="200"} 1"#)
                )
                #expect(response.text.contains(#"auth_failures_total{reason="missing_credentials"} 1"#))
                #expect(
                    response.text.contains(
                        #"authkit_jwks_fetches_total{result="success",issuer="\#(api.server.issuerURL)"} 1"#
                    ),
                    "JWKS fetches are exported per issuer"
                )
            }
        }
    }
}
