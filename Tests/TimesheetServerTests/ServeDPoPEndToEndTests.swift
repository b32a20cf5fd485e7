import AuthKit
import AuthKitTesting
import Foundation
import Testing

/// #18 against the real binary: `serve` trusting two issuers whose keys share a `kid`, DPoP-bound tokens with proofs,
/// and a proof replayed at a second `serve` process on the same database (as another replica behind the same load
/// balancer, hence the same PUBLIC_BASE_URL) is refused there.
@Suite(.serialized) struct ServeDPoPEndToEndTests {
    static let publicBase = "https://api.exampleco.com"

    static func token(
        _ server: JWKSTestServer,
        iss: String? = nil,
        role: Role = .employee,
        bindTo key: DPoPTestKey? = nil
    ) -> String {
        var extra: [String: JSONClaimValue] = [
            "permissions": .array(role.scopes.map(JSONClaimValue.string)), "scope": "",
        ]
        if let key { extra["cnf"] = ["jkt": .string(key.thumbprint)] }
        return server.issuer.mint(
            TestTokenIssuer.claims(
                issuer: iss ?? server.issuerURL,
                audience: .array([.string(apiAudience)]),
                subject: role.subject,
                extra: extra
            )
        )
    }

    @Test func twoIssuersAndDPoPAcrossTwoServeProcesses() async throws {
        try await ServeEndToEndTests.withStack { stack in
            // A second identity provider (an Auth0 custom domain next to the tenant domain), same kid "test-key-1".
            try await JWKSTestServer.withRunning(try TestTokenIssuer()) { second in
                let first = stack.jwks
                #expect(first.issuer.keyID == second.issuer.keyID)
                let ports = [stack.apiPort, try await freePort()]
                var processes: [ChildProcess] = []
                defer { for process in processes { process.terminate() } }
                for port in ports {
                    processes.append(
                        try ChildProcess(
                            try timesheetsExecutable(),
                            arguments: ["serve"],
                            environment: [
                                "DATABASE_URL": stack.databaseURL, "PORT": String(port), "LOG_LEVEL": "warning",
                                "AUTH_ISSUER": "\(first.issuerURL), \(second.issuerURL)", "AUTH_AUDIENCE": apiAudience,
                                "PUBLIC_BASE_URL": Self.publicBase,
                            ]
                        )
                    )
                }
                let clients = ports.map { LoopbackClient(port: $0) }
                defer { Task { [clients] in for client in clients { try? await client.shutdown() } } }
                for (client, process) in zip(clients, processes) {
                    try await client.waitUntilUp("/health/ready", process: process)
                }

                // Readiness names each issuer by position, never by URL.
                let ready = try await clients[0].send(.GET, "/health/ready")
                let checks = ready.json["checks"] as? [String: String]
                #expect(checks?["signing_keys_1"] == "ok" && checks?["signing_keys_2"] == "ok", "\(ready.text)")
                #expect(!ready.text.contains("127.0.0.1"))

                // Each issuer's tokens are served; a token signed by the second issuer's key naming the first fails.
                for server in [first, second] {
                    let reply = try await clients[0].send(
                        .GET,
                        "/timesheets",
                        headers: ["authorization": "Bearer \(Self.token(server))"]
                    )
                    #expect(reply.status == 200, "\(server.issuerURL): \(reply.text)")
                }
                let crossed = Self.token(second, iss: first.issuerURL)
                let refused = try await clients[0].send(
                    .GET,
                    "/timesheets",
                    headers: ["authorization": "Bearer \(crossed)"]
                )
                #expect(refused.status == 401)
                #expect(refused.json["detail"] as? String == "Invalid signature")
                let metrics = try await clients[0].send(.GET, "/metrics")
                let fetches = #"authkit_jwks_fetches_total{result="success",issuer="\#(second.issuerURL)"}"#
                #expect(metrics.text.contains(fetches))

                // A DPoP-bound token from the second issuer: served with a proof, refused as Bearer.
                let key = DPoPTestKey()
                let bound = Self.token(second, bindTo: key)
                let proof = key.proof(method: "GET", url: Self.publicBase + "/timesheets", accessToken: bound)
                let headers = ["authorization": "DPoP \(bound)", "dpop": proof]
                let accepted = try await clients[0].send(.GET, "/timesheets?limit=5", headers: headers)
                #expect(accepted.status == 200, "\(accepted.text)")
                let asBearer = try await clients[0].send(
                    .GET,
                    "/timesheets",
                    headers: ["authorization": "Bearer \(bound)"]
                )
                #expect(asBearer.status == 401)
                #expect(asBearer.headers["www-authenticate"]?.hasPrefix("DPoP ") == true)

                // The same proof at the other process, which shares only the database: refused as a replay.
                let replayed = try await clients[1].send(.GET, "/timesheets", headers: headers)
                #expect(replayed.status == 401, "\(replayed.text)")
                #expect(replayed.json["detail"] as? String == "DPoP proof already used")
                #expect(replayed.headers["www-authenticate"]?.contains(#"error="invalid_dpop_proof""#) == true)
                // A fresh proof is served there.
                let fresh = key.proof(method: "GET", url: Self.publicBase + "/timesheets", accessToken: bound)
                let served = try await clients[1].send(
                    .GET,
                    "/timesheets",
                    headers: ["authorization": "DPoP \(bound)", "dpop": fresh]
                )
                #expect(served.status == 200, "\(served.text)")
                // A proof for the process's own address is not the public URL.
                let local = key.proof(
                    method: "GET",
                    url: "http://127.0.0.1:\(ports[1])/timesheets",
                    accessToken: bound
                )
                let wrongURL = try await clients[1].send(
                    .GET,
                    "/timesheets",
                    headers: ["authorization": "DPoP \(bound)", "dpop": local]
                )
                #expect(wrongURL.json["detail"] as? String == "DPoP proof 'htu' does not match the request URL")
            }
        }
    }

    @Test func withoutAPublicBaseURLProofsNameTheHostTheClientUsed() async throws {
        try await ServeEndToEndTests.withStack { stack in
            let serve = try stack.startServe(["AUTH_ISSUER": "", "AUTH_AUDIENCE": apiAudience, "AUTH_DPOP": "required"])
            defer { serve.terminate() }
            let http = LoopbackClient(port: stack.apiPort)
            defer { Task { [http] in try? await http.shutdown() } }
            try await http.waitUntilUp("/health/ready", process: serve)
            let key = DPoPTestKey()
            let bound = Self.token(stack.jwks, bindTo: key)
            let proof = key.proof(method: "GET", url: "http://127.0.0.1:\(stack.apiPort)/me", accessToken: bound)
            let reply = try await http.send(.GET, "/me", headers: ["authorization": "DPoP \(bound)", "dpop": proof])
            #expect(reply.status == 200, "\(reply.text)")
            // AUTH_DPOP=required: a plain Bearer token is refused with a DPoP challenge.
            let bearer = try await http.send(
                .GET,
                "/me",
                headers: ["authorization": "Bearer \(Self.token(stack.jwks))"]
            )
            #expect(bearer.status == 401)
            #expect(bearer.headers["www-authenticate"]?.hasPrefix("DPoP ") == true)
        }
    }
}
