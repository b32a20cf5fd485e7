import AuthKit
import AuthKitTesting
import Foundation
import LocalPostgres
import Synchronization
import Testing
import TimesheetStore

/// `timesheets serve` as deployed: the real binary against a real PostgreSQL and a real JWKS server on 127.0.0.1.
@Suite(.serialized) struct ServeEndToEndTests {
    struct Stack {
        let cluster: LocalPostgresCluster
        let databaseURL: String
        let jwks: JWKSTestServer
        let apiPort: Int

        func token(_ role: Role) -> String {
            var extra: [String: JSONClaimValue] = [
                "permissions": .array(role.scopes.map(JSONClaimValue.string)), "scope": "",
            ]
            if role == .machine { extra["gty"] = "client-credentials" }
            if let email = role.email { extra[emailClaim] = .string(email) }
            return jwks.issuer.mint(
                TestTokenIssuer.claims(
                    issuer: jwks.issuerURL,
                    audience: .array([.string(apiAudience)]),
                    subject: role.subject,
                    extra: extra
                )
            )
        }

        func headers(_ role: Role) -> [String: String] {
            ["authorization": "Bearer \(token(role))", "content-type": "application/json"]
        }

        func startServe(
            _ settings: [String: String] = ["AUTH_ISSUER": "", "AUTH_AUDIENCE": apiAudience]
        ) throws -> ChildProcess {
            var environment = ["DATABASE_URL": databaseURL, "PORT": String(apiPort), "LOG_LEVEL": "warning"]
            for (name, value) in settings { environment[name] = value.isEmpty ? jwks.issuerURL : value }
            return try ChildProcess(try timesheetsExecutable(), arguments: ["serve"], environment: environment)
        }
    }

    /// A private cluster, migrated by the real binary, and a JWKS server; torn down afterwards.
    static func withStack(_ body: (Stack) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "timesheets-e2e-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(
            at: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755]
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let cluster = LocalPostgresCluster(
            dataDirectory: directory.appendingPathComponent("pg").path,
            port: try await freePort()
        )
        let databaseURL = try await cluster.start()
        do {
            let migrations = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("migrations").path
            let migrate = try ChildProcess(
                try timesheetsExecutable(),
                arguments: ["migrate", "up", "--migrations-dir", migrations],
                environment: ["DATABASE_URL": databaseURL]
            )
            #expect(try await migrate.waitForExit() == 0, "\(migrate.text)")
            try await JWKSTestServer.withRunning(try APIHarness.sharedIssuer.get()) { jwks in
                try await body(
                    Stack(cluster: cluster, databaseURL: databaseURL, jwks: jwks, apiPort: try await freePort())
                )
            }
        } catch {
            try? await cluster.stop()
            throw error
        }
        try await cluster.stop()
    }

    @Test func referenceFlowsOutageRecoveryAndGracefulShutdown() async throws {
        try await Self.withStack { stack in
            let serve = try stack.startServe()
            defer { serve.terminate() }
            let http = LoopbackClient(port: stack.apiPort)
            defer { Task { [http] in try? await http.shutdown() } }
            try await http.waitUntilUp("/health/ready", process: serve)

            // The reference flows: an employee records and lists, a manager approves, the batch client uploads.
            let created = try await http.send(
                .POST,
                "/timesheets",
                headers: stack.headers(.employee),
                body: #"{"date":"2017-05-10","project":"StoreZero","hours":5}"#
            )
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? Int)
            let mine = try await http.send(.GET, "/timesheets", headers: stack.headers(.employee))
            #expect((mine.json["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [id])
            #expect((try await http.send(.GET, "/timesheets/\(id)", headers: stack.headers(.contractor))).status == 404)
            #expect(
                (try await http.send(
                    .PATCH,
                    "/timesheets/\(id)",
                    headers: stack.headers(.contractor),
                    body: #"{"hours":1}"#
                )).status == 404
            )
            let contractorsList = try await http.send(.GET, "/timesheets", headers: stack.headers(.contractor))
            #expect((contractorsList.json["items"] as? [Any])?.isEmpty == true)
            let queue = try await http.send(.GET, "/approvals", headers: stack.headers(.manager))
            #expect((queue.json["items"] as? [[String: Any]])?.contains { $0["id"] as? Int == id } == true)
            let approved = try await http.send(.PUT, "/approvals/\(id)", headers: stack.headers(.manager))
            #expect(approved.json["approved"] as? Bool == true)
            let upload = try await http.send(
                .POST,
                "/timesheets/upload",
                headers: stack.headers(.machine),
                body: #"[{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5},"#
                    + #"{"user_id":"008","date":"2017-05-10","project":"StoreZero","hours":3}]"#
            )
            #expect(upload.status == 201, "\(upload.text)")

            let exported = try await http.send(.GET, "/metrics")
            #expect(
                exported.text.contains("db_pool_size \(DatabaseConfiguration.defaultPoolSize).0"),
                "the default pool size (4 per core) is exported"
            )
            #expect(exported.text.contains("db_operations_in_flight"))
            #expect(exported.text.contains("authkit_jwks_fetches_total"))

            // PostgreSQL stops: 503 with Retry-After, readiness red; it comes back: the same process recovers.
            try await stack.cluster.stop()
            let down = try await http.send(.GET, "/timesheets", headers: stack.headers(.employee))
            #expect(down.status == 503, "\(down.text)")
            #expect(down.headers["retry-after"] != nil)
            #expect(down.json["code"] as? String == "unavailable")
            #expect((try await http.send(.GET, "/health/ready")).status == 503)
            try await stack.cluster.start()
            var recovered = false
            for _ in 0..<100 where !recovered {
                recovered =
                    (try? await http.send(.GET, "/timesheets", headers: stack.headers(.employee)))?.status == 200
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered, "the service recovers without a restart")

            // SIGTERM under load, once some writes were acknowledged: every 201 is in the database afterwards.
            let acknowledgedSoFar = Counter()
            let acknowledged = await withTaskGroup(of: Int?.self) { group in
                for index in 0..<120 {
                    group.addTask {
                        let day = String(format: "2018-%02d-%02d", index % 12 + 1, index / 12 + 1)
                        let reply = try? await http.send(
                            .POST,
                            "/timesheets",
                            headers: stack.headers(.contractor),
                            body: #"{"date":"\#(day)","project":"Load","hours":1}"#
                        )
                        guard reply?.status == 201, let id = reply?.json["id"] as? Int else { return nil }
                        acknowledgedSoFar.increment()
                        return id
                    }
                }
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(30)
                    while acknowledgedSoFar.value < 10, ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    serve.process.terminate()
                    return nil
                }
                return await group.reduce(into: [Int]()) { if let id = $1 { $0.append(id) } }
            }
            #expect(
                try await serve.waitForExit() == 0,
                "serve exits 0 after SIGTERM:\n\(serve.text)\n\(serve.crashReport)"
            )
            #expect(!acknowledged.isEmpty)

            let again = try stack.startServe()
            defer { again.terminate() }
            try await http.waitUntilUp("/health/ready", process: again)
            let stored = try await http.send(
                .GET,
                "/timesheets?limit=500&project=Load",
                headers: stack.headers(.contractor)
            )
            let ids = Set((stored.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int })
            #expect(
                Set(acknowledged).isSubset(of: ids),
                "lost acknowledged writes: \(Set(acknowledged).subtracting(ids).sorted())"
            )
        }
    }

    /// The reference deployment's own settings, under the names of Auth0's Node middleware: users are identified by
    /// the namespaced email claim, and the batch client's client-credentials token carries no email.
    @Test func referenceConfigurationUploadsBatchesEndToEnd() async throws {
        try await Self.withStack { stack in
            let serve = try stack.startServe([
                "ISSUER_BASE_URL": "", "AUDIENCE": apiAudience, "AUTH_USER_ID_CLAIM": emailClaim,
            ])
            defer { serve.terminate() }
            let http = LoopbackClient(port: stack.apiPort)
            defer { Task { [http] in try? await http.shutdown() } }
            try await http.waitUntilUp("/health/ready", process: serve)

            // The seed's cron client posts one object; an array works too.
            let single = try await http.send(
                .POST,
                "/timesheets/upload",
                headers: stack.headers(.machine),
                body: #"{"user_id":"employee@exampleco.com","date":"2017-05-12T17:40:20.095Z","#
                    + #""project":"StoreZero","hours":5}"#
            )
            #expect(single.status == 201, "\(single.text)")
            let array = try await http.send(
                .POST,
                "/timesheets/upload",
                headers: stack.headers(.machine),
                body: #"[{"user_id":"employee@exampleco.com","date":"2017-05-13","project":"StoreZero","hours":2},"#
                    + #"{"user_id":"contractor@exampleco.com","date":"2017-05-13","project":"StoreZero","hours":3}]"#
            )
            #expect(array.status == 201, "\(array.text)")
            let mine = try await http.send(.GET, "/timesheets", headers: stack.headers(.employee))
            let items = mine.json["items"] as? [[String: Any]] ?? []
            #expect(items.count == 2)
            #expect(items.allSatisfy { $0["user_id"] as? String == "employee@exampleco.com" })
            // A user token without the email claim is still refused.
            let anonymous = stack.jwks.issuer.mint(
                TestTokenIssuer.claims(
                    issuer: stack.jwks.issuerURL,
                    audience: .string(apiAudience),
                    subject: "auth0|no-email",
                    extra: ["permissions": ["read:timesheets"]]
                )
            )
            let refused = try await http.send(.GET, "/timesheets", headers: ["authorization": "Bearer \(anonymous)"])
            #expect(refused.status == 401)
        }
    }

    /// SIGTERM with SHUTDOWN_DRAIN: for the drain, the server keeps answering, readiness says 503 (so a load balancer
    /// takes it out), and every answer closes its connection; then it exits 0.
    @Test func drainsBeforeItStopsListening() async throws {
        try await Self.withStack { stack in
            let serve = try stack.startServe([
                "AUTH_ISSUER": "", "AUTH_AUDIENCE": apiAudience, "SHUTDOWN_DRAIN": "2",
            ])
            defer { serve.terminate() }
            let http = LoopbackClient(port: stack.apiPort)
            defer { Task { [http] in try? await http.shutdown() } }
            try await http.waitUntilUp("/health/ready", process: serve)
            let before = try await http.send(.GET, "/health/ready")
            #expect(before.status == 200)
            #expect(before.headers["connection"] != "close")

            let stoppingAt = ContinuousClock.now
            serve.terminate()
            try await Task.sleep(for: .milliseconds(300))
            let ready = try await http.send(.GET, "/health/ready")
            #expect(ready.status == 503, "\(ready.text)")
            #expect(ready.json["checks"].flatMap { ($0 as? [String: Any])?["shutdown"] as? String }?.isEmpty == false)
            #expect(ready.headers["connection"] == "close")
            let list = try await http.send(.GET, "/timesheets", headers: stack.headers(.employee))
            #expect(list.status == 200, "requests are still served while draining: \(list.text)")
            #expect(list.headers["connection"] == "close")
            #expect(try await serve.waitForExit() == 0, "\(serve.text)")
            #expect(ContinuousClock.now - stoppingAt >= .seconds(2), "the listener stayed open for the drain")
        }
    }
}

/// A count shared by concurrent tasks.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
