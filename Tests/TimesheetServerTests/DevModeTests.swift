import AuthKit
import Crypto
import Foundation
import Testing

@testable import TimesheetAPI
@testable import TimesheetDevTools

/// `timesheets dev` as a developer runs it: a subprocess on free ports with its own PostgreSQL and identity provider.
@Suite(.serialized) struct DevModeTests {
    static func challenge(_ verifier: String) -> String {
        AuthBase64URL.encode(Array(SHA256.hash(data: Data(verifier.utf8))))
    }

    static func form(_ fields: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
    }

    @Test func devModeServesTheAPIWithItsOwnIdentityProvider() async throws {
        let port = try await freePort()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "timesheets-dev-\(UUID().uuidString.prefix(8))"
        )
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let dev = try ChildProcess(
            try timesheetsExecutable(),
            arguments: ["dev", "--port", String(port), "--data-dir", dataDir.path]
        )
        let http = LoopbackClient(port: port)
        do {
            try await http.waitUntilUp(process: dev)
            let deadline = ContinuousClock.now + .seconds(10)
            while !dev.text.contains("curl -H \"Authorization: Bearer "), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(dev.text.contains("curl -H \"Authorization: Bearer "), "the banner with a ready-to-paste curl")
            #expect(dev.text.contains("ready in"))

            // Client credentials, as the reference's batch client asks Auth0.
            let wrongSecret = try await http.send(
                .POST,
                "/dev-idp/oauth/token",
                headers: ["content-type": "application/json"],
                body: #"{"grant_type":"client_credentials","client_id":"timesheets-batch","client_secret":"nope","#
                    + #""audience":"https://api.exampleco.com/timesheets"}"#
            )
            #expect(wrongSecret.status == 401)
            #expect(wrongSecret.json["error"] as? String == "access_denied")
            // The secret is random per data directory (the old fixed "dev-secret" opens nothing) and in the banner.
            let secret = try String(
                contentsOf: dataDir.appendingPathComponent("dev-machine-client-secret"),
                encoding: .utf8
            )
            .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(secret.count >= 40)
            #expect(dev.text.contains("secret \(secret)"))
            let fixed = try await http.send(
                .POST,
                "/dev-idp/oauth/token",
                headers: ["content-type": "application/json"],
                body: #"{"grant_type":"client_credentials","client_id":"timesheets-batch","#
                    + #""client_secret":"dev-secret","audience":"https://api.exampleco.com/timesheets"}"#
            )
            #expect(fixed.status == 401)
            let machine = try await http.send(
                .POST,
                "/dev-idp/oauth/token",
                headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Self.form([
                    "grant_type": "client_credentials", "client_id": "timesheets-batch", "client_secret": secret,
                    "audience": "https://api.exampleco.com/timesheets",
                ])
            )
            #expect(machine.status == 200)
            #expect(machine.json["token_type"] as? String == "Bearer")
            let machineToken = try #require(machine.json["access_token"] as? String)
            let upload = try await http.send(
                .POST,
                "/timesheets/upload",
                headers: ["authorization": "Bearer \(machineToken)", "content-type": "application/json"],
                body: #"{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}"#
            )
            #expect(upload.status == 201, "\(upload.text)")

            // Authorization code + PKCE, driven as a browser would.
            let verifier = "verifier-" + UUID().uuidString + UUID().uuidString
            let redirect = "http://127.0.0.1:\(port)/"
            let authorize = [
                "response_type": "code", "client_id": "timesheets-web", "redirect_uri": redirect, "state": "xyz",
                "code_challenge": Self.challenge(verifier), "code_challenge_method": "S256", "scope": "openid",
            ]
            let page = try await http.send(.GET, "/dev-idp/authorize?" + Self.form(authorize))
            #expect(page.status == 200)
            #expect(page.text.contains("employee@exampleco.com") && page.text.contains("manager@exampleco.com"))

            var foreign = authorize
            foreign["redirect_uri"] = "https://evil.example/callback"
            #expect(try await http.send(.GET, "/dev-idp/authorize?" + Self.form(foreign)).status == 400)
            var plain = authorize
            plain["code_challenge_method"] = "plain"
            #expect(try await http.send(.GET, "/dev-idp/authorize?" + Self.form(plain)).status == 400)

            func code() async throws -> String {
                var fields = authorize
                fields["user"] = "employee"
                let reply = try await http.send(
                    .POST,
                    "/dev-idp/authorize",
                    headers: ["content-type": "application/x-www-form-urlencoded"],
                    body: Self.form(fields)
                )
                #expect(reply.status == 302)
                let location = try #require(reply.headers["location"])
                #expect(location.hasPrefix(redirect) && location.contains("state=xyz"))
                let items = URLComponents(string: location)?.queryItems ?? []
                return try #require(items.first { $0.name == "code" }?.value)
            }

            let stolen = try await code()
            let wrongVerifier = try await http.send(
                .POST,
                "/dev-idp/oauth/token",
                headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Self.form([
                    "grant_type": "authorization_code", "client_id": "timesheets-web", "code": stolen,
                    "code_verifier": String(repeating: "w", count: 64), "redirect_uri": redirect,
                ])
            )
            #expect(wrongVerifier.status == 403)
            #expect(wrongVerifier.json["error"] as? String == "invalid_grant")
            let reused = try await http.send(
                .POST,
                "/dev-idp/oauth/token",
                headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Self.form([
                    "grant_type": "authorization_code", "client_id": "timesheets-web", "code": stolen,
                    "code_verifier": verifier, "redirect_uri": redirect,
                ])
            )
            #expect(reused.status == 403, "a code is single-use, even after a failed attempt")

            let exchanged = try await http.send(
                .POST,
                "/dev-idp/oauth/token",
                headers: ["content-type": "application/x-www-form-urlencoded"],
                body: Self.form([
                    "grant_type": "authorization_code", "client_id": "timesheets-web", "code": try await code(),
                    "code_verifier": verifier, "redirect_uri": redirect,
                ])
            )
            #expect(exchanged.status == 200, "\(exchanged.text)")
            let employeeToken = try #require(exchanged.json["access_token"] as? String)
            let auth = ["authorization": "Bearer \(employeeToken)", "content-type": "application/json"]
            let created = try await http.send(
                .POST,
                "/timesheets",
                headers: auth,
                body: #"{"date":"2017-05-10","project":"StoreZero","hours":5}"#
            )
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json["user_id"] as? String == "auth0|dev-employee")
            let me = try await http.send(.GET, "/me", headers: auth)
            #expect((me.json["permissions"] as? [String])?.contains("create:timesheets") == true)
            #expect(try await http.send(.GET, "/config.json").json["client_id"] as? String == "timesheets-web")
        } catch {
            dev.terminate()
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()

        // Ctrl-C / SIGTERM stops the API and PostgreSQL.
        dev.terminate()
        let status = try await dev.waitForExit()
        #expect(status == 0, "dev exited with \(status):\n\(dev.text)")
        let pidFile = dataDir.appendingPathComponent("postgres/postmaster.pid")
        #expect(!FileManager.default.fileExists(atPath: pidFile.path), "PostgreSQL was left running")
    }

    @Test func devModeExplainsABusyPortAndAnUnwritableDataDirectory() async throws {
        let port = try await freePort()
        let squatter = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            arguments: [
                "python3", "-c",
                "import socket,time;s=socket.socket();s.bind(('127.0.0.1',\(port)));s.listen();time.sleep(30)",
            ]
        )
        defer { squatter.terminate() }
        try await Task.sleep(for: .milliseconds(500))
        let busy = try ChildProcess(
            try timesheetsExecutable(),
            arguments: [
                "dev", "--port", String(port), "--data-dir", NSTemporaryDirectory() + "unused-\(UUID().uuidString)",
            ]
        )
        #expect(try await busy.waitForExit() == 2)
        #expect(busy.text.contains("port \(port) on 127.0.0.1 is already in use"), "\(busy.text)")
        #expect(busy.text.contains("--port"))

        let blocked = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-dir-\(UUID().uuidString)")
        try Data("file".utf8).write(to: blocked)
        defer { try? FileManager.default.removeItem(at: blocked) }
        let unwritable = try ChildProcess(
            try timesheetsExecutable(),
            arguments: ["dev", "--port", String(try await freePort()), "--data-dir", blocked.path + "/data"]
        )
        #expect(try await unwritable.waitForExit() == 2)
        #expect(unwritable.text.contains("--data-dir"), "\(unwritable.text)")
    }

    /// Its identity provider signs in anyone as anyone: dev mode refuses a non-loopback HOST unless the flag that
    /// names the risk is given. (Nothing is bound here: the refusal comes before any socket.)
    @Test func devModeRefusesToListenBeyondLoopback() async throws {
        for host in ["0.0.0.0", "192.0.2.10", "::"] {
            let dev = try ChildProcess(
                try timesheetsExecutable(),
                arguments: [
                    "dev", "--host", host, "--port", String(try await freePort()), "--data-dir",
                    NSTemporaryDirectory() + "unused-\(UUID().uuidString)",
                ]
            )
            #expect(try await dev.waitForExit() == 2)
            #expect(dev.text.contains("dev mode listens on loopback only"), "\(dev.text)")
            #expect(dev.text.contains("--unsafe-allow-remote-dev-login"))
        }
        let help = try ChildProcess(try timesheetsExecutable(), arguments: ["dev", "--help"])
        _ = try await help.waitForExit()
        #expect(help.text.contains("--unsafe-allow-remote-dev-login"))
    }

    @Test func theDevClientSecretIsRandomPerDataDirectoryAndComparedSafely() throws {
        let first = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        let second = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        let a = try DevClientSecret(path: first.path).load()
        #expect(try DevClientSecret(path: first.path).load() == a, "kept across restarts")
        #expect(try DevClientSecret(path: second.path).load() != a)
        let mode = try FileManager.default.attributesOfItem(atPath: first.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(DevClientSecret.matches(a, a))
        #expect(!DevClientSecret.matches(String(a.dropLast()), a))
        #expect(!DevClientSecret.matches(nil, a))
        #expect(!DevClientSecret.matches("", a))
    }

    @Test func serveNeverMountsTheDevIdentityProvider() async throws {
        let port = try await freePort()
        let serve = try ChildProcess(
            try timesheetsExecutable(),
            arguments: ["serve", "--port", String(port)],
            environment: [
                // Loopback only: a database that is not there and a shared secret, so nothing is fetched.
                "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "AUTH_ISSUER": "http://127.0.0.1:9/",
                "AUTH_AUDIENCE": "api", "AUTH_HS256_SECRET": "a-test-secret-of-sufficient-length-000",
            ]
        )
        let http = LoopbackClient(port: port)
        defer { serve.terminate() }
        do {
            try await http.waitUntilUp(process: serve)
            for path in [
                "/dev-idp/.well-known/openid-configuration", "/dev-idp/.well-known/jwks.json", "/dev-idp/authorize",
            ] {
                #expect(try await http.send(.GET, path).status == 404, "\(path)")
            }
            #expect(
                try await http.send(.POST, "/dev-idp/oauth/token", body: "grant_type=client_credentials").status == 404
            )
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    @Test func serveRefusesToStartHalfConfigured() async throws {
        let missing = try ChildProcess(
            try timesheetsExecutable(),
            arguments: ["serve"],
            environment: ["AUTH_ISSUER": "", "DATABASE_URL": ""]
        )
        #expect(try await missing.waitForExit() == 2)
        #expect(missing.text.contains("DATABASE_URL"))
        let insecure = try ChildProcess(
            try timesheetsExecutable(),
            arguments: ["serve"],
            environment: [
                "DATABASE_URL": "postgres://u@127.0.0.1/db", "AUTH_ISSUER": "http://tenant.example.com/",
                "AUTH_AUDIENCE": "api",
            ]
        )
        #expect(try await insecure.waitForExit() == 2)
        #expect(insecure.text.contains("AUTH_ISSUER: must use https"))
    }
}
