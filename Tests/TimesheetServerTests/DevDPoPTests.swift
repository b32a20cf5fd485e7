import AuthKit
import AuthKitTesting
import Foundation
import Testing

/// The whole DPoP flow locally: `timesheets dev`'s identity provider binds a token to the key of the proof sent to
/// its token endpoint, and the API accepts that token only with proofs made by the same key.
@Suite(.serialized) struct DevDPoPTests {
    @Test func theDevIdentityProviderIssuesDPoPBoundTokens() async throws {
        let port = try await freePort()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "timesheets-dev-dpop-\(UUID().uuidString.prefix(8))"
        )
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let dev = try ChildProcess(
            try timesheetsExecutable(),
            arguments: ["dev", "--port", String(port), "--data-dir", dataDir.path]
        )
        defer { dev.terminate() }
        let http = LoopbackClient(port: port)
        defer { Task { [http] in try? await http.shutdown() } }
        try await http.waitUntilUp("/health/ready", process: dev)
        let secret = try String(
            contentsOf: dataDir.appendingPathComponent("dev-machine-client-secret"),
            encoding: .utf8
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)
        let origin = "http://127.0.0.1:\(port)"
        let body = "grant_type=client_credentials&client_id=timesheets-batch&client_secret=\(secret)"
        let form = ["content-type": "application/x-www-form-urlencoded"]

        let key = DPoPTestKey()
        let tokenProof = key.proof(method: "POST", url: origin + "/dev-idp/oauth/token")
        let issued = try await http.send(
            .POST,
            "/dev-idp/oauth/token",
            headers: form.merging(["dpop": tokenProof]) { $1 },
            body: body
        )
        #expect(issued.status == 200, "\(issued.text)")
        #expect(issued.json["token_type"] as? String == "DPoP")
        let token = try #require(issued.json["access_token"] as? String)
        let payload = try #require(
            AuthBase64URL.decode(String(token.split(separator: ".")[1])).flatMap { JSONClaimValue(parsing: $0) }
        )
        #expect(payload["cnf"]?["jkt"]?.stringValue == key.thumbprint)

        // The token endpoint's proofs are checked too: replayed, or for another URL, they are refused.
        let replayed = try await http.send(
            .POST,
            "/dev-idp/oauth/token",
            headers: form.merging(["dpop": tokenProof]) { $1 },
            body: body
        )
        #expect(replayed.status == 400)
        #expect(replayed.json["error"] as? String == "invalid_dpop_proof")
        let elsewhere = try await http.send(
            .POST,
            "/dev-idp/oauth/token",
            headers: form.merging(["dpop": key.proof(method: "POST", url: origin + "/other")]) { $1 },
            body: body
        )
        #expect(elsewhere.json["error_description"] as? String == "DPoP proof 'htu' does not match the request URL")

        let upload = #"{"user_id":"007","date":"2017-05-10","project":"StoreZero","hours":5}"#
        let uploadProof = key.proof(method: "POST", url: origin + "/timesheets/upload", accessToken: token)
        let stored = try await http.send(
            .POST,
            "/timesheets/upload",
            headers: ["authorization": "DPoP \(token)", "dpop": uploadProof, "content-type": "application/json"],
            body: upload
        )
        #expect(stored.status == 201, "\(stored.text)")
        let asBearer = try await http.send(
            .POST,
            "/timesheets/upload",
            headers: ["authorization": "Bearer \(token)", "content-type": "application/json"],
            body: upload
        )
        #expect(asBearer.status == 401)
        let otherKey = DPoPTestKey()
        let stolen = try await http.send(
            .POST,
            "/timesheets/upload",
            headers: [
                "authorization": "DPoP \(token)", "content-type": "application/json",
                "dpop": otherKey.proof(method: "POST", url: origin + "/timesheets/upload", accessToken: token),
            ],
            body: upload
        )
        #expect(stolen.status == 401)
        #expect(stolen.json["detail"] as? String == "DPoP proof key does not match the token's 'cnf.jkt'")
    }
}
