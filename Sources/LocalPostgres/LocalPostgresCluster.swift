import Foundation
import Logging
import NIOCore
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private PostgreSQL cluster for tests and development, run with the machine's `initdb` and `pg_ctl`.
///
/// It initialises `dataDirectory` on first use (trust authentication, superuser `postgres`, UTF-8, C locale), starts
/// the server on 127.0.0.1 only, and stops it. PostgreSQL refuses to run as root, so when the process is root the
/// server runs as the `postgres` system user (or `nobody`) and the data directory is handed to that user; its parent
/// directories must be traversable by it. A `postmaster.pid` left by a killed run is recovered on the next start.
///
/// ```swift
/// let cluster = LocalPostgresCluster(dataDirectory: "/tmp/timesheets-dev/data")
/// let url = try await cluster.start()          // postgres://postgres@127.0.0.1:54321/postgres?sslmode=disable
/// try await cluster.createDatabase("timesheets")
/// try await cluster.stop()
/// ```
public actor LocalPostgresCluster {
    /// Why the cluster could not be set up, started or stopped; the message says what to do.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public nonisolated let dataDirectory: String
    private let requestedPort: Int?
    private let avoidedPorts: Set<Int>
    private let durable: Bool
    private let maxConnections: Int
    private let logger: Logger
    public private(set) var port: Int?

    /// - Parameters:
    ///   - dataDirectory: The cluster's directory; created and initialised when it holds no cluster yet.
    ///   - port: The TCP port on 127.0.0.1, or `nil` for a free one.
    ///   - avoiding: Ports a free one must not be, such as the port a server of ours is about to bind: the system
    ///     can hand out a port that was free a moment ago and is promised to someone else.
    ///   - durable: `false` turns off fsync and synchronous commit: fast, and fine for throw-away test data.
    ///   - maxConnections: The server's `max_connections`.
    public init(
        dataDirectory: String,
        port: Int? = nil,
        avoiding: Set<Int> = [],
        durable: Bool = false,
        maxConnections: Int = 300,
        logger: Logger = Logger(label: "LocalPostgresCluster")
    ) {
        self.dataDirectory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.requestedPort = port
        self.avoidedPorts = avoiding
        self.durable = durable
        self.maxConnections = maxConnections
        self.logger = logger
    }

    /// The URL of the `postgres` database while the cluster runs.
    public var url: String? { port.map { Self.url(port: $0, database: "postgres") } }

    /// A `postgres://` URL for one database of a cluster on `port`.
    public static func url(port: Int, database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// The URL of the `postgres` database through the cluster's Unix socket while it runs: a client on this machine
    /// skips TCP, which costs both sides less CPU per query than loopback TCP (`benchmarks/results/README.md`).
    public var socketURL: String? {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~/"))
        let host = socketDirectory.addingPercentEncoding(withAllowedCharacters: allowed) ?? socketDirectory
        return port.map { "postgres://postgres@/postgres?host=\(host)&port=\($0)&sslmode=disable" }
    }

    /// Where the server puts its socket, `.s.PGSQL.<port>`: the data directory, or `/tmp` when that path would be
    /// longer than a Unix socket path may be (about 107 bytes).
    public nonisolated var socketDirectory: String {
        (dataDirectory + "/.s.PGSQL.65535").utf8.count <= 100 ? dataDirectory : "/tmp"
    }

    // MARK: Start and stop

    /// Initialises the cluster if needed, starts it and waits until it accepts connections.
    /// - Returns: The `postgres://` URL of its `postgres` database.
    @discardableResult
    public func start() async throws -> String {
        if let url { return url }
        let binaries = try Self.findBinaries()
        let runUser = Self.serverUser()
        try await initialiseIfNeeded(binaries, runUser: runUser)
        try recoverStalePidFile()

        var lastFailure = ""
        for attempt in 1...5 {
            let port = try requestedPort ?? Self.freePort(avoiding: avoidedPorts)
            try writeLocalConfiguration(port: port)
            let result = try await Self.run(
                binaries.pgCtl,
                ["start", "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-s"],
                as: runUser
            )
            if result.status == 0 {
                try await waitUntilAccepting(port: port, timeout: .seconds(30))
                self.port = port
                logger.info("PostgreSQL is running", metadata: ["port": "\(port)", "data": "\(dataDirectory)"])
                return Self.url(port: port, database: "postgres")
            }
            lastFailure = result.output + "\n" + tail(ofFile: logFile)
            logger.debug("pg_ctl start failed", metadata: ["attempt": "\(attempt)", "output": "\(lastFailure)"])
            // A postmaster killed with SIGKILL leaves backends that exit within a moment; a free port may be
            // taken between choosing and binding. Both pass on a retry.
            try recoverStalePidFile()
            try await Task.sleep(for: .milliseconds(500 * attempt))
        }
        throw Failure("PostgreSQL in \(dataDirectory) did not start:\n\(lastFailure)")
    }

    /// Stops the server with `pg_ctl stop -m fast`; does nothing when it is not running.
    public func stop() async throws {
        guard let binaries = try? Self.findBinaries() else { return }
        let status = try await Self.run(binaries.pgCtl, ["status", "-D", dataDirectory], as: Self.serverUser())
        port = nil
        guard status.status == 0 else { return }
        let result = try await Self.run(
            binaries.pgCtl,
            ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "-s"],
            as: Self.serverUser()
        )
        guard result.status == 0 else {
            throw Failure("pg_ctl stop failed for \(dataDirectory): \(result.output)")
        }
    }

    /// Stops a cluster immediately from any context, even one that cannot wait (an `atexit` handler).
    public nonisolated static func stopImmediately(dataDirectory: String) {
        guard let binaries = try? findBinaries() else { return }
        _ = try? runSynchronously(
            binaries.pgCtl,
            ["stop", "-D", dataDirectory, "-m", "immediate", "-w", "-t", "30", "-s"],
            as: serverUser()
        )
    }

    // MARK: Databases

    /// Creates a database owned by `postgres`.
    /// - Parameter name: Lowercase letters, digits and underscores, starting with a letter or underscore.
    public func createDatabase(_ name: String) async throws {
        try Self.checkIdentifier(name)
        try await withAdminConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: self.logger)
        }
    }

    /// Drops a database, disconnecting its sessions; nothing happens when it does not exist.
    public func dropDatabase(_ name: String) async throws {
        try Self.checkIdentifier(name)
        try await withAdminConnection { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)"),
                logger: self.logger
            )
        }
    }

    /// The superuser's connection to the `postgres` database, over TCP on loopback.
    private static func adminConfiguration(port: Int) -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: "127.0.0.1",
            port: port,
            username: "postgres",
            password: nil,
            database: "postgres",
            tls: .disable
        )
    }

    private func withAdminConnection(_ body: (PostgresConnection) async throws -> Void) async throws {
        guard let port else { throw Failure("the cluster in \(dataDirectory) is not running; call start() first") }
        let configuration = Self.adminConfiguration(port: port)
        let connection = try await PostgresConnection.connect(
            configuration: configuration,
            id: Int.random(in: 1...Int(Int32.max)),
            logger: logger
        )
        do {
            try await body(connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private static func checkIdentifier(_ name: String) throws {
        let valid =
            !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
            && !(name.utf8.first! >= 48 && name.utf8.first! <= 57)
        guard valid else {
            throw Failure("'\(name)' is not a database name this helper creates: use a-z, 0-9 and _ (at most 63)")
        }
    }

    // MARK: Set-up steps

    private var logFile: String { dataDirectory + "/server.log" }

    private func initialiseIfNeeded(_ binaries: Binaries, runUser: SystemUser?) async throws {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: dataDirectory + "/PG_VERSION") { return }
        try fileManager.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        chmod(dataDirectory, 0o700)
        if let runUser { try Self.changeOwner(dataDirectory, to: runUser) }
        let result = try await Self.run(
            binaries.initdb,
            ["-D", dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            as: runUser
        )
        guard result.status == 0 else {
            throw Failure("initdb failed for \(dataDirectory) (it must be empty or absent):\n\(result.output)")
        }
        let include =
            "\n# Settings written by LocalPostgresCluster on each start.\ninclude_if_exists 'timesheets-local.conf'\n"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/postgresql.conf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(include.utf8))
        try handle.close()
    }

    private func writeLocalConfiguration(port: Int) throws {
        var lines = [
            "listen_addresses = '127.0.0.1'",
            "port = \(port)",
            "unix_socket_directories = '\(socketDirectory)'",
            "max_connections = \(maxConnections)",
            "shared_buffers = '128MB'",
        ]
        if !durable {
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        }
        let path = dataDirectory + "/timesheets-local.conf"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        if let runUser = Self.serverUser() { try Self.changeOwner(path, to: runUser) }
    }

    /// Removes a `postmaster.pid` whose process is gone, and stops a leftover server of this directory.
    private func recoverStalePidFile() throws {
        let pidFile = dataDirectory + "/postmaster.pid"
        guard let contents = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return }
        let lines = contents.split(separator: "\n", omittingEmptySubsequences: false)
        guard let pid = lines.first.flatMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) else {
            try? FileManager.default.removeItem(atPath: pidFile)
            return
        }
        let commandLine = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        let alive = kill(pid, 0) == 0 || errno == EPERM
        if alive && commandLine.contains("postgres") {
            // A server of ours from an earlier run that was never stopped: stop it so it restarts with our settings.
            logger.info("stopping a leftover PostgreSQL server", metadata: ["pid": "\(pid)"])
            Self.stopImmediately(dataDirectory: dataDirectory)
        } else {
            logger.info("removing a stale postmaster.pid", metadata: ["pid": "\(pid)"])
            try? FileManager.default.removeItem(atPath: pidFile)
        }
    }

    private func waitUntilAccepting(port: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        let configuration = Self.adminConfiguration(port: port)
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: configuration,
                    id: 1,
                    logger: logger
                )
                try await connection.query("SELECT 1", logger: logger)
                try await connection.close()
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw Failure(
            "PostgreSQL on port \(port) did not accept connections within \(timeout): "
                + String(reflecting: lastError as Any)
        )
    }

    private func tail(ofFile path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    // MARK: Binaries, users, processes

    struct Binaries {
        var initdb: String
        var pgCtl: String
    }

    /// `initdb` and `pg_ctl` from PATH, or the newest `/usr/lib/postgresql/*/bin`.
    static func findBinaries(
        path: String = ProcessInfo.processInfo.environment["PATH"] ?? "",
        libraryRoot: String = "/usr/lib/postgresql"
    ) throws -> Binaries {
        let fileManager = FileManager.default
        var directories = path.split(separator: ":").map(String.init)
        let versions = (try? fileManager.contentsOfDirectory(atPath: libraryRoot)) ?? []
        directories += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(libraryRoot)/\($0)/bin" }
        for directory in directories {
            let initdb = directory + "/initdb"
            let pgCtl = directory + "/pg_ctl"
            if fileManager.isExecutableFile(atPath: initdb), fileManager.isExecutableFile(atPath: pgCtl) {
                let resolve = { (path: String) in URL(fileURLWithPath: path).resolvingSymlinksInPath().path }
                return Binaries(initdb: resolve(initdb), pgCtl: resolve(pgCtl))
            }
        }
        throw Failure(
            "PostgreSQL's server programs (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin. "
                + "Install them with: sudo apt-get install -y postgresql (macOS: brew install postgresql@16), "
                + "or set TEST_DATABASE_URL / DATABASE_URL to an existing server."
        )
    }

    struct SystemUser: Sendable {
        var name: String
        var uid: uid_t
        var gid: gid_t
    }

    /// The user the server runs as: `nil` (ourselves) unless we are root, then `postgres` or `nobody`.
    static func serverUser() -> SystemUser? {
        guard geteuid() == 0 else { return nil }
        for name in ["postgres", "nobody"] {
            if let entry = getpwnam(name) {
                return SystemUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
            }
        }
        return nil
    }

    static func changeOwner(_ path: String, to user: SystemUser) throws {
        guard chown(path, user.uid, user.gid) == 0 else {
            throw Failure("could not hand \(path) to the \(user.name) user: \(String(cString: strerror(errno)))")
        }
    }

    /// A free port on 127.0.0.1 (``LoopbackPorts``) that is none of `avoided`.
    static func freePort(avoiding avoided: Set<Int>) throws -> Int {
        for _ in 0..<20 {
            let port = try LoopbackPorts.free()
            if !avoided.contains(port) { return port }
        }
        throw Failure("could not find a free port other than \(avoided.sorted())")
    }

    struct ProcessResult: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs a program to completion without blocking the caller's thread, as `user` when given.
    static func run(_ executable: String, _ arguments: [String], as user: SystemUser?) async throws -> ProcessResult {
        let (pid, outputFile) = try spawn(executable, arguments, as: user)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR {
                throw Failure("waiting for \(executable) failed: \(String(cString: strerror(errno)))")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return collect(status, outputFile)
    }

    static func runSynchronously(
        _ executable: String,
        _ arguments: [String],
        as user: SystemUser?
    ) throws
        -> ProcessResult
    {
        let (pid, outputFile) = try spawn(executable, arguments, as: user)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return collect(status, outputFile)
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// Starts a program with output to a temporary file and no inherited descriptors.
    ///
    /// Not Foundation's `Process`: `pg_ctl start` leaves a daemon behind that would inherit the descriptors
    /// `Process` uses to notice termination (and our sockets), so its end would never be seen.
    private static func spawn(
        _ executable: String,
        _ arguments: [String],
        as user: SystemUser?
    ) throws
        -> (pid_t, String)
    {
        var argumentList: [String]
        if let user {
            if let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            }) {
                argumentList = [runuser, "-u", user.name, "--", executable] + arguments
            } else {
                argumentList =
                    [
                        "/usr/bin/setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--",
                        executable,
                    ] + arguments
            }
        } else {
            argumentList = [executable] + arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        environment["LANG"] = "C"
        environment.removeValue(forKey: "PGDATA")
        let outputFile = NSTemporaryDirectory() + "/pgcluster-\(UUID().uuidString).out"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        } else {
            markDescriptorsCloseOnExec()
        }
        let argv = argumentList.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argumentList[0], &actions, nil, argv, envp)
        guard result == 0 else {
            throw Failure("could not run \(argumentList[0]): \(String(cString: strerror(result)))")
        }
        return (pid, outputFile)
    }

    /// Where `posix_spawn_file_actions_addclosefrom_np` is missing: keep our descriptors out of children.
    private static func markDescriptorsCloseOnExec() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            guard let fd = Int32(entry), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    private static func collect(_ status: Int32, _ outputFile: String) -> ProcessResult {
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outputFile)
        // WIFEXITED / WEXITSTATUS; a signal counts as failure.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessResult(status: code, output: output)
    }
}
