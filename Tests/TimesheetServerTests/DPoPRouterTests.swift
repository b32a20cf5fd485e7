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

/// DPoP-bound tokens and client allowlists through the router: the problem bodies, challenges and headers clients see.
@Suite struct DPoPRouterTests {
    static let base = "https://api.exampleco.com"

    static func token(_ api: APIHarness, extra: [String: JSONClaimValue]) -> String {
        var claims: [String: JSONClaimValue] = [
            "scope": "read:timesheets create:timesheets batch:upload", "gty": "client-credentials",
        ]
        claims.merge(extra) { $1 }
        return api.issuer.mint(
            TestTokenIssuer.claims(
                issuer: api.server.issuerURL,
                audience: .string(apiAudience),
                subject: "batch-client@clients",
                extra: claims
            )
        )
    }

    static func dpopHeaders(_ token: String, proof: String) -> HTTPFields {
        [.authorization: "DPoP \(token)", HTTPField.Name("DPoP")!: proof]
    }

    @Test func aBoundTokenWithAProofIsServedOnceAndNeverAsBearer() async throws {
        try await APIHarness.run(publicBaseURL: Self.base) { api, client in
            let key = DPoPTestKey()
            let token = Self.token(api, extra: ["cnf": ["jkt": .string(key.thumbprint)]])
            let proof = key.proof(method: "GET", url: Self.base + "/me", accessToken: token)
            try await client.execute(uri: "/me?x=1", method: .get, headers: Self.dpopHeaders(token, proof: proof)) {
                #expect($0.status == .ok)
                #expect($0.json["subject"] as? String == "batch-client@clients")
            }
            try await client.execute(uri: "/me", method: .get, headers: Self.dpopHeaders(token, proof: proof)) {
                #expect($0.status == .unauthorized)
                #expect($0.json["code"] as? String == "invalid_dpop_proof")
                #expect($0.json["detail"] as? String == "DPoP proof already used")
                #expect(
                    $0.headers[.wwwAuthenticate]?.hasPrefix(#"DPoP realm="api", error="invalid_dpop_proof""#) == true
                )
                #expect($0.headers[.wwwAuthenticate]?.contains(#"algs="ES256 "#) == true)
            }
            try await client.execute(uri: "/me", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                #expect($0.status == .unauthorized)
                #expect($0.json["code"] as? String == "invalid_token")
                #expect($0.headers[.wwwAuthenticate]?.hasPrefix("DPoP ") == true)
            }
            // A proof for another URL (the public one is what counts, not the request's path alone).
            let elsewhere = key.proof(method: "GET", url: "https://other.example.com/me", accessToken: token)
            try await client.execute(uri: "/me", method: .get, headers: Self.dpopHeaders(token, proof: elsewhere)) {
                #expect($0.status == .unauthorized)
                #expect($0.json["detail"] as? String == "DPoP proof 'htu' does not match the request URL")
            }
        }
    }

    @Test func nonceChallengeCarriesADPoPNonceHeader() async throws {
        let nonces: @Sendable (inout AuthConfiguration) -> Void = {
            $0.dpop.nonceSecret = Array(String(repeating: "k", count: 32).utf8)
        }
        try await APIHarness.run(publicBaseURL: Self.base, configureAuth: nonces) { api, client in
            let key = DPoPTestKey()
            let token = Self.token(api, extra: ["cnf": ["jkt": .string(key.thumbprint)]])
            var nonce: String?
            let first = key.proof(method: "GET", url: Self.base + "/me", accessToken: token)
            try await client.execute(uri: "/me", method: .get, headers: Self.dpopHeaders(token, proof: first)) {
                #expect($0.status == .unauthorized)
                #expect($0.json["code"] as? String == "use_dpop_nonce")
                nonce = $0.headers[HTTPField.Name("DPoP-Nonce")!]
            }
            guard let nonce else {
                Issue.record("no DPoP-Nonce header with use_dpop_nonce")
                return
            }
            let withNonce = key.proof(method: "GET", url: Self.base + "/me", accessToken: token, nonce: nonce)
            try await client.execute(uri: "/me", method: .get, headers: Self.dpopHeaders(token, proof: withNonce)) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test func corsLetsBrowsersSendProofsAndReadNonces() async throws {
        try await APIHarness.run { _, client in
            try await client.execute(
                uri: "/timesheets",
                method: .options,
                headers: [.origin: "http://localhost:4200", .accessControlRequestMethod: "GET"]
            ) {
                #expect($0.headers[.accessControlAllowHeaders]?.contains("DPoP") == true)
            }
            try await client.execute(uri: "/timesheets", method: .get, headers: [.origin: "http://localhost:4200"]) {
                #expect($0.headers[.accessControlExposeHeaders]?.contains("DPoP-Nonce") == true)
            }
        }
    }

    @Test func theUploadAllowsOnlyItsClients() async throws {
        try await APIHarness.run(clientAllowlists: ClientAllowlists(batchUpload: ["timesheets-batch"])) { api, client in
            let body = ByteBuffer(
                string: #"[{"user_id":"auth0|employee","date":"2024-05-10","project":"P","hours":1}]"#
            )
            let stranger = Self.token(api, extra: ["azp": "some-other-client"])
            try await client.execute(
                uri: "/timesheets/upload",
                method: .post,
                headers: [.authorization: "Bearer \(stranger)", .contentType: "application/json"],
                body: body
            ) {
                #expect($0.status == .forbidden)
                #expect($0.json["code"] as? String == "client_not_allowed")
                #expect($0.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)
            }
            #expect(await api.repository.entry(TimesheetID(1)) == nil)
            // The same client may still use the routes that have no allowlist.
            try await client.execute(uri: "/me", method: .get, headers: [.authorization: "Bearer \(stranger)"]) {
                #expect($0.status == .ok)
            }
            // azp, else client_id, names the client.
            let byAZP = Self.token(api, extra: ["azp": "timesheets-batch"])
            let byClientID = api.issuer.mint(
                TestTokenIssuer.claims(
                    issuer: api.server.issuerURL,
                    audience: .string(apiAudience),
                    subject: "timesheets-batch@clients",
                    extra: ["scope": "batch:upload", "gty": "client-credentials", "client_id": "timesheets-batch"]
                ).filter { $0.key != "azp" }
            )
            for (index, token) in [byAZP, byClientID].enumerated() {
                let day = "2024-05-1\(index + 1)"
                try await client.execute(
                    uri: "/timesheets/upload",
                    method: .post,
                    headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: ByteBuffer(
                        string: #"[{"user_id":"auth0|employee","date":"\#(day)","project":"P","hours":1}]"#
                    )
                ) {
                    #expect($0.status == .created, "token \(index)")
                }
            }
        }
    }

    @Test func anAllowlistForEveryRoute() async throws {
        try await APIHarness.run(clientAllowlists: ClientAllowlists(everyRoute: ["test-client"])) { api, client in
            try await client.execute(uri: "/me", method: .get, headers: api.headers(.employee)) {
                #expect($0.status == .ok)
            }
            let other = Self.token(api, extra: ["azp": "another"])
            try await client.execute(uri: "/me", method: .get, headers: [.authorization: "Bearer \(other)"]) {
                #expect($0.status == .forbidden)
                #expect($0.json["code"] as? String == "client_not_allowed")
            }
        }
    }
}
