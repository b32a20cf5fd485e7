import Foundation
import LocalPostgres
import Testing

/// What docker compose does with the image, done with the real binary: `migrate up --wait` started before
/// PostgreSQL is up, a second `migrate up` that has nothing to do, `serve` on HOST=0.0.0.0, and `healthcheck`.
@Suite(.serialized) struct ContainerSequenceTests {
    @Test func composeSequenceWithTheRealBinary() async throws {
        let executable = try timesheetsExecutable()
        let databasePort = try await freePort()
        let apiPort = try await freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "timesheets-compose-\(UUID().uuidString.prefix(8))"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let databaseURL = LocalPostgresCluster.url(port: databasePort, database: "postgres")
        let migrations = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("migrations").path

        // The migration job starts first and waits for the database.
        let migrate = try ChildProcess(
            executable,
            arguments: ["migrate", "up", "--wait", "--wait-timeout", "90", "--migrations-dir", migrations],
            environment: ["DATABASE_URL": databaseURL]
        )
        try await Task.sleep(for: .seconds(2))
        #expect(migrate.process.isRunning, "migrate --wait gave up before the database came up:\n\(migrate.text)")

        let cluster = LocalPostgresCluster(
            dataDirectory: directory.appendingPathComponent("pg").path,
            port: databasePort
        )
        try await cluster.start()
        do {
            #expect(try await migrate.waitForExit(timeout: .seconds(90)) == 0, "\(migrate.text)")
            let again = try ChildProcess(
                executable,
                arguments: ["migrate", "up", "--migrations-dir", migrations],
                environment: ["DATABASE_URL": databaseURL]
            )
            #expect(try await again.waitForExit() == 0, "a second run is a no-op: \(again.text)")

            // Nothing listens yet: the health check fails.
            let early = try ChildProcess(executable, arguments: ["healthcheck", "--port", String(apiPort)])
            #expect(try await early.waitForExit() == 1)

            let serve = try ChildProcess(
                executable,
                arguments: ["serve"],
                environment: [
                    "DATABASE_URL": databaseURL, "HOST": "0.0.0.0", "PORT": String(apiPort),
                    "AUTH_ISSUER": "http://127.0.0.1:9/", "AUTH_AUDIENCE": "api",
                    "AUTH_HS256_SECRET": "a-test-secret-of-sufficient-length-000",
                ]
            )
            defer { serve.terminate() }
            let http = LoopbackClient(port: apiPort)
            try await http.waitUntilUp(process: serve)
            try await http.shutdown()
            let ready = try ChildProcess(executable, arguments: ["healthcheck"], environment: ["PORT": String(apiPort)])
            #expect(try await ready.waitForExit() == 0, "\(ready.text)")

            // The database goes away: readiness and the health check say so.
            try await cluster.stop()
            let down = try ChildProcess(executable, arguments: ["healthcheck", "--port", String(apiPort)])
            #expect(try await down.waitForExit() == 1, "\(down.text)")
            serve.terminate()
            #expect(try await serve.waitForExit() == 0, "serve exits cleanly on SIGTERM:\n\(serve.text)")
        } catch {
            try? await cluster.stop()
            throw error
        }
        try? await cluster.stop()
    }
}
