import Foundation
import LocalPostgres
import Logging
import PostgresNIO
import TimesheetStore

#if canImport(Glibc)
import Glibc
#endif

/// The repository's `migrations` folder.
let repositoryMigrations = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("migrations").path

/// Set once the shared cluster runs, so the `atexit` handler can stop it and remove its folder.
nonisolated(unsafe) private var sharedClusterRoot: String?

/// One PostgreSQL per test process: `TEST_DATABASE_URL` when set, else a private cluster started on first use and
/// stopped when the process exits, whether tests passed or not.
actor TestPostgres {
    static let shared = TestPostgres()

    private var base: Task<DatabaseConfiguration, any Error>?
    private var counter = 0

    /// The server's admin configuration (database `postgres` or the one in `TEST_DATABASE_URL`).
    func baseConfiguration() async throws -> DatabaseConfiguration {
        // One start, however many suites ask at once (the actor is re-entered while it awaits).
        if let base { return try await base.value }
        let task = Task { try await Self.start() }
        base = task
        return try await task.value
    }

    private static func start() async throws -> DatabaseConfiguration {
        if let url = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"], !url.isEmpty {
            return try DatabaseConfiguration(url: url)
        }
        removeLeftoversOfCrashedRuns()
        let root = try makeTemporaryDirectory(prefix: "tsst")
        try String(getpid()).write(toFile: root + "/owner.pid", atomically: true, encoding: .utf8)
        sharedClusterRoot = root
        atexit {
            guard let root = sharedClusterRoot else { return }
            LocalPostgresCluster.stopImmediately(dataDirectory: root + "/data")
            try? FileManager.default.removeItem(atPath: root)
        }
        let cluster = LocalPostgresCluster(dataDirectory: root + "/data")
        let url = try await cluster.start()
        return try DatabaseConfiguration(url: url)
    }

    /// A new, empty database for one suite.
    func freshDatabase(_ label: String, migrated: Bool = true) async throws -> DatabaseConfiguration {
        var configuration = try await baseConfiguration()
        counter += 1
        let name = "t_\(label)_\(getpid())_\(counter)"
        try await createDatabase(name, on: configuration)
        configuration.database = name
        configuration.poolSize = 20
        // Opened on demand: every suite's pools opening all 20 at once would exceed the test server's connections.
        configuration.keepsConnectionsOpen = false
        // Correctness tests share two cores with the rest of the suite; tests of timeouts set their own.
        configuration.queryTimeout = .seconds(30)
        if migrated {
            try await Migrator(configuration: configuration, directory: repositoryMigrations, output: { _ in }).up()
        }
        return configuration
    }

    private static func removeLeftoversOfCrashedRuns() {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where entry.hasPrefix("tsst-") {
            let root = "/tmp/" + entry
            guard let owner = try? String(contentsOfFile: root + "/owner.pid", encoding: .utf8),
                let pid = Int32(owner), kill(pid, 0) != 0
            else { continue }
            LocalPostgresCluster.stopImmediately(dataDirectory: root + "/data")
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}

/// Creates a database through an admin connection.
func createDatabase(_ name: String, on configuration: DatabaseConfiguration) async throws {
    let connection = try await PostgresConnection.connect(
        configuration: try configuration.makeConnectionConfiguration(),
        id: 1,
        logger: testLogger
    )
    do {
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: testLogger)
        try await connection.close()
    } catch {
        try? await connection.close()
        throw error
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "TimesheetStoreTests")
    logger.logLevel = .error
    return logger
}()

/// A directory under /tmp that the PostgreSQL system user can traverse.
func makeTemporaryDirectory(prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    guard let pointer = mkdtemp(&template) else { throw POSIXError(.EIO) }
    let path = String(cString: pointer)
    chmod(path, 0o755)
    return path
}

/// Runs `body` with a repository on running pools for `configuration`, as the server makes them (one pool per event
/// loop unless the configuration says otherwise).
func withRepository<Result: Sendable>(
    _ configuration: DatabaseConfiguration,
    _ body: (PostgresTimesheetRepository) async throws -> Result
) async throws -> Result {
    let repository = try PostgresTimesheetRepository(configuration: configuration, logger: testLogger)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { await repository.pools.run() }
        defer { group.cancelAll() }
        return try await body(repository)
    }
}

/// Runs `body` on one plain connection.
func withConnection<Result: Sendable>(
    _ configuration: DatabaseConfiguration,
    _ body: (PostgresConnection) async throws -> Result
) async throws -> Result {
    let connection = try await PostgresConnection.connect(
        configuration: try configuration.makeConnectionConfiguration(),
        id: 2,
        logger: testLogger
    )
    do {
        let result = try await body(connection)
        try await connection.close()
        return result
    } catch {
        try? await connection.close()
        throw error
    }
}

/// Caches one fresh database per suite.
actor SuiteDatabase {
    private let label: String
    private var configuration: Task<DatabaseConfiguration, any Error>?

    init(_ label: String) { self.label = label }

    func get() async throws -> DatabaseConfiguration {
        if let configuration { return try await configuration.value }
        let label = self.label
        let task = Task { try await TestPostgres.shared.freshDatabase(label) }
        configuration = task
        return try await task.value
    }
}

/// A private cluster for a test that stops or restarts its server; removed afterwards even when the test fails.
func withPrivateCluster<Result: Sendable>(
    port: Int? = nil,
    _ body: (LocalPostgresCluster) async throws -> Result
) async throws -> Result {
    let root = try makeTemporaryDirectory(prefix: "tspc")
    let cluster = LocalPostgresCluster(dataDirectory: root + "/data", port: port, maxConnections: 50)
    do {
        let result = try await body(cluster)
        try? await cluster.stop()
        try? FileManager.default.removeItem(atPath: root)
        return result
    } catch {
        try? await cluster.stop()
        try? FileManager.default.removeItem(atPath: root)
        throw error
    }
}
