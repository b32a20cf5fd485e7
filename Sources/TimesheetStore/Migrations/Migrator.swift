import Foundation
import Logging
import PostgresNIO

/// Applies `migrations/NNNN_name.sql` files to a database, once each, in order, and reports on them.
///
/// - Files are validated against the `schema_migrations` history before anything runs.
/// - One session-level advisory lock (polled with `pg_try_advisory_lock` until ``Options/lockTimeout``) serialises
///   migrators; the history is read after the lock is held, so racing deploys apply each file once and both succeed.
/// - A transactional file and its history row commit together. A `-- migrate:no-transaction` file runs statement
///   by statement with a `running` row that becomes `applied` or `failed`; `failed` blocks later runs until
///   ``repair(realignChecksums:)``.
public struct Migrator: Sendable {
    public struct Options: Sendable, Hashable {
        /// How long to wait for another migrator's lock.
        public var lockTimeout: Duration = .seconds(60)
        /// When set, how long to keep retrying while the database is starting or unreachable.
        public var waitTimeout: Duration?
        /// Proceed although applied files changed.
        public var allowModified = false
        /// Proceed although applied versions have no file (the database is ahead of this build).
        public var allowMissing = false
        /// Apply pending files older than the newest applied one.
        public var allowOutOfOrder = false
        /// List what `up` would run without running it.
        public var dryRun = false

        public init() {}
    }

    public let configuration: DatabaseConfiguration
    public let directory: String
    public var options: Options
    private let logger: Logger
    private let output: @Sendable (String) -> Void

    /// - Parameters:
    ///   - configuration: Where the database is; its pool settings and query timeout are not used.
    ///   - directory: The folder with the `.sql` files.
    ///   - output: Receives progress lines meant for the operator (standard output in the command).
    public init(
        configuration: DatabaseConfiguration, directory: String, options: Options = Options(),
        logger: Logger = Logger(label: "timesheets.migrate"), output: @escaping @Sendable (String) -> Void = { print($0) }
    ) {
        self.configuration = configuration
        self.directory = directory
        self.options = options
        self.logger = logger
        self.output = output
    }

    /// The advisory lock key (two-int form, which never collides with the store's one-bigint locks).
    static let lockKey = "1953066341, 1"

    // MARK: Commands

    /// What ``up()`` did, or with ``Options/dryRun``, would do.
    public struct UpReport: Hashable, Sendable {
        public var applied: [String]
        public var wouldApply: [String]
    }

    /// Validates, then applies every pending file in order.
    @discardableResult
    public func up() async throws(MigrationError) -> UpReport {
        let files = try MigrationFile.load(from: directory)
        return try await withSession { connection in
            if options.dryRun {
                let history = try await readHistory(connection)
                let pending = try checked(files: files, history: history)
                for file in pending {
                    output("would apply \(file.fileName)\(file.isTransactional ? "" : " (no transaction)")")
                }
                if pending.isEmpty { output("nothing to apply: the database is up to date") }
                return UpReport(applied: [], wouldApply: pending.map(\.fileName))
            }
            try await acquireLock(connection)
            try await createHistoryTable(connection)
            let history = try await readHistory(connection)
            let pending = try checked(files: files, history: history)
            if pending.isEmpty {
                let newest = history.map(\.version).max().map(MigrationFile.label) ?? "none"
                output("nothing to apply: the database is up to date (version \(newest))")
            }
            var applied: [String] = []
            for file in pending {
                let milliseconds = try await apply(file, on: connection)
                applied.append(file.fileName)
                output("applied \(file.fileName) in \(milliseconds) ms")
            }
            try await releaseLock(connection)
            return UpReport(applied: applied, wouldApply: [])
        }
    }

    /// Every file and history row with its state; reads without taking the lock.
    public func status() async throws(MigrationError) -> MigrationStatus {
        let files = try MigrationFile.load(from: directory)
        return try await withSession { connection in
            let history = try await readHistory(connection)
            return MigrationStatus(
                database: configuration.redactedDescription, files: files, history: history,
                problems: Self.problems(files: files, history: history))
        }
    }

    /// Checks files against the history without changing anything.
    /// - Returns: The number of pending files.
    @discardableResult
    public func validate() async throws(MigrationError) -> Int {
        let files = try MigrationFile.load(from: directory)
        return try await withSession { connection in
            let history = try await readHistory(connection)
            let pending = try checked(files: files, history: history)
            output("valid: \(history.count) applied, \(pending.count) pending")
            return pending.count
        }
    }

    /// What ``repair(realignChecksums:)`` changed.
    public struct RepairReport: Hashable, Sendable {
        public var removedFailed: [String]
        public var realigned: [String]
    }

    /// Clears `failed` (and interrupted `running`) rows so their files run again; with `realignChecksums`, also
    /// records the current checksum of applied files that changed.
    @discardableResult
    public func repair(realignChecksums: Bool = false) async throws(MigrationError) -> RepairReport {
        let files = try MigrationFile.load(from: directory)
        return try await withSession { connection in
            try await acquireLock(connection)
            try await createHistoryTable(connection)
            let history = try await readHistory(connection)
            var report = RepairReport(removedFailed: [], realigned: [])
            for record in history where record.status != "applied" {
                try await connection.query(
                    "DELETE FROM schema_migrations WHERE version = \(record.version)", logger: logger
                ).drain()
                let label = "\(MigrationFile.label(record.version))_\(record.name)"
                report.removedFailed.append(label)
                output("cleared the \(record.status) record of \(label); it will run again on the next `migrate up`")
            }
            if realignChecksums {
                let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
                for record in history where record.status == "applied" {
                    guard let file = byVersion[record.version], file.checksum != record.checksum else { continue }
                    try await connection.query(
                        "UPDATE schema_migrations SET checksum = \(file.checksum) WHERE version = \(record.version)",
                        logger: logger
                    ).drain()
                    report.realigned.append(file.fileName)
                    output("recorded the new checksum of \(file.fileName)")
                }
            }
            if report.removedFailed.isEmpty && report.realigned.isEmpty { output("nothing to repair") }
            try await releaseLock(connection)
            return report
        }
    }

    /// Writes `NNNN_name.sql` with the next free number.
    /// - Returns: The new file's path.
    public static func create(name: String, in directory: String) throws(MigrationError) -> String {
        let snake = name.lowercased().unicodeScalars.map { scalar -> String in
            (("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)) ? String(scalar) : "_"
        }.joined()
        let cleaned = snake.split(separator: "_").joined(separator: "_")
        guard !cleaned.isEmpty else {
            throw .usage("'\(name)' has no letters or digits to name a migration with")
        }
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .usage("cannot create the migrations directory \(directory): \(error)")
        }
        let existing = ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? [])
            .compactMap { MigrationFile.parse(fileName: $0)?.version }
        let version = (existing.max() ?? 0) + 1
        let fileName = "\(MigrationFile.label(version))_\(cleaned).sql"
        let path = (directory as NSString).appendingPathComponent(fileName)
        let template = """
            -- \(cleaned.replacingOccurrences(of: "_", with: " ")): what this changes and why.
            -- It runs in one transaction together with its history row. Statements that cannot run in a
            -- transaction (CREATE INDEX CONCURRENTLY) need a file whose first line is \(MigrationFile.noTransactionMarker)

            """
        guard fileManager.createFile(atPath: path, contents: Data(template.utf8)) else {
            throw .usage("cannot write \(path)")
        }
        return path
    }

    // MARK: Validation

    /// Problems between files and history, in version order.
    public static func problems(files: [MigrationFile], history: [MigrationRecord]) -> [MigrationProblem] {
        let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
        var problems: [MigrationProblem] = []
        for record in history {
            if record.status != "applied" {
                problems.append(
                    .failed(version: record.version, name: record.name, status: record.status, error: record.error))
            } else if let file = byVersion[record.version] {
                if file.checksum != record.checksum {
                    problems.append(
                        .modified(
                            version: record.version, file: file.fileName, applied: record.checksum,
                            current: file.checksum))
                }
            } else {
                problems.append(.missingFile(version: record.version, name: record.name))
            }
        }
        let applied = Set(history.map(\.version))
        if let newest = history.filter({ $0.status == "applied" }).map(\.version).max() {
            for file in files where !applied.contains(file.version) && file.version < newest {
                problems.append(.outOfOrder(version: file.version, file: file.fileName, newestApplied: newest))
            }
        }
        return problems.sorted { $0.version < $1.version }
    }

    /// The pending files, or the problems the options do not waive.
    private func checked(files: [MigrationFile], history: [MigrationRecord]) throws -> [MigrationFile] {
        let problems = Self.problems(files: files, history: history)
        let blocking = problems.filter { !$0.isWaived(by: options) }
        for problem in problems where problem.isWaived(by: options) { output("warning: \(problem)") }
        guard blocking.isEmpty else { throw MigrationError.validationFailed(blocking) }
        let known = Set(history.map(\.version))
        return files.filter { !known.contains($0.version) }
    }

    // MARK: Applying

    /// Runs one file; returns its execution time in milliseconds.
    private func apply(_ file: MigrationFile, on connection: PostgresConnection) async throws -> Int64 {
        let statements = SQLScript.statements(in: file.sql)
        let started = ContinuousClock.now
        func elapsed() -> Int64 { DatabaseConfiguration.milliseconds(ContinuousClock.now - started) }
        let appliedBy = Self.hostName

        if file.isTransactional {
            try await connection.query("BEGIN", logger: logger).drain()
            do {
                for (index, statement) in statements.enumerated() {
                    try await execute(statement, number: index + 1, of: file, on: connection)
                }
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum, status, transactional, execution_ms, applied_by)
                    VALUES (\(file.version), \(file.name), \(file.checksum), 'applied', true, \(elapsed()),
                            current_user || '@' || \(appliedBy))
                    """, logger: logger
                ).drain()
                do {
                    try await connection.query("COMMIT", logger: logger).drain()
                } catch {
                    throw failure(error, statement: statements.last, number: statements.count, of: file)
                }
                return elapsed()
            } catch {
                try? await connection.query("ROLLBACK", logger: logger).drain()
                throw error
            }
        }

        try await connection.query(
            """
            INSERT INTO schema_migrations (version, name, checksum, status, transactional, applied_by)
            VALUES (\(file.version), \(file.name), \(file.checksum), 'running', false, current_user || '@' || \(appliedBy))
            """, logger: logger
        ).drain()
        do {
            for (index, statement) in statements.enumerated() {
                try await execute(statement, number: index + 1, of: file, on: connection)
            }
        } catch let error as MigrationError {
            if case .migrationFailed(let failure) = error {
                let summary = "statement \(failure.statement) at line \(failure.line) failed"
                    + (failure.sqlState.map { " [SQLSTATE \($0)]" } ?? "") + ": \(failure.message)"
                try? await connection.query(
                    """
                    UPDATE schema_migrations SET status = 'failed', error = \(summary), execution_ms = \(elapsed())
                    WHERE version = \(file.version)
                    """, logger: logger
                ).drain()
            }
            throw error
        }
        try await connection.query(
            """
            UPDATE schema_migrations SET status = 'applied', applied_at = now(), execution_ms = \(elapsed())
            WHERE version = \(file.version)
            """, logger: logger
        ).drain()
        return elapsed()
    }

    private func execute(
        _ statement: SQLScript.Statement, number: Int, of file: MigrationFile, on connection: PostgresConnection
    ) async throws {
        do {
            try await connection.query(PostgresQuery(unsafeSQL: statement.text), logger: logger).drain()
        } catch {
            throw failure(error, statement: statement, number: number, of: file)
        }
    }

    private func failure(_ error: any Error, statement: SQLScript.Statement?, number: Int, of file: MigrationFile)
        -> MigrationError
    {
        guard let psql = error as? PSQLError, psql.code == .server, let info = psql.serverInfo else {
            return Self.map(error)
        }
        var line = statement?.line ?? 1
        var column = statement?.column ?? 1
        if let statement, let position = info[.position].flatMap(Int.init) {
            (line, column) = statement.location(ofPosition: position)
        }
        return .migrationFailed(
            MigrationFailure(
                file: file.path, statement: number, line: line, column: column, sqlState: info[.sqlState],
                message: info[.message] ?? "unknown error", detail: info[.detail], hint: info[.hint],
                isTransactional: file.isTransactional))
    }

    // MARK: History

    private func createHistoryTable(_ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version       bigint PRIMARY KEY,
                name          text NOT NULL,
                checksum      text NOT NULL,
                status        text NOT NULL CHECK (status IN ('applied', 'running', 'failed')),
                transactional boolean NOT NULL,
                applied_at    timestamptz NOT NULL DEFAULT now(),
                execution_ms  bigint NOT NULL DEFAULT 0,
                applied_by    text NOT NULL,
                error         text
            )
            """, logger: logger
        ).drain()
    }

    /// The history, or none when the table does not exist yet.
    private func readHistory(_ connection: PostgresConnection) async throws -> [MigrationRecord] {
        var exists = false
        for try await value in try await connection.query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            exists = value
        }
        guard exists else { return [] }
        let rows = try await connection.query(
            """
            SELECT version, name, checksum, status, transactional, applied_at, execution_ms, applied_by, error
            FROM schema_migrations ORDER BY version
            """, logger: logger)
        var records: [MigrationRecord] = []
        for try await (version, name, checksum, status, transactional, appliedAt, milliseconds, appliedBy, error)
            in rows.decode((Int64, String, String, String, Bool, Date, Int64, String, String?).self)
        {
            records.append(
                MigrationRecord(
                    version: version, name: name, checksum: checksum, status: status, transactional: transactional,
                    appliedAt: appliedAt, executionMilliseconds: milliseconds, appliedBy: appliedBy, error: error))
        }
        return records
    }

    // MARK: Lock

    private func acquireLock(_ connection: PostgresConnection) async throws {
        let started = ContinuousClock.now
        var lastReport: ContinuousClock.Instant?
        while true {
            var acquired = false
            for try await value in try await connection.query(
                "SELECT pg_try_advisory_lock(\(unescaped: Self.lockKey))", logger: logger
            ).decode(Bool.self) {
                acquired = value
            }
            if acquired { return }
            let holder = try await lockHolder(connection)
            let waited = ContinuousClock.now - started
            if waited >= options.lockTimeout {
                throw MigrationError.lockTimeout(waited: options.lockTimeout, holder: holder)
            }
            if lastReport.map({ ContinuousClock.now - $0 >= .seconds(10) }) ?? true {
                output("waiting for the migration lock, held by \(holder ?? "another session") …")
                lastReport = ContinuousClock.now
            }
            try await Task.sleep(for: min(.milliseconds(250), options.lockTimeout - waited))
        }
    }

    private func releaseLock(_ connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_advisory_unlock(\(unescaped: Self.lockKey))", logger: logger).drain()
    }

    /// Who holds the lock: application name, user, client address, pid and since when.
    private func lockHolder(_ connection: PostgresConnection) async throws -> String? {
        let rows = try await connection.query(
            """
            SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
                   coalesce(host(a.client_addr), 'local socket'),
                   coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '?')
            FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = 1953066341::bigint::oid AND l.objid = 1::bigint::oid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, logger: logger)
        var holder: String?
        for try await (pid, application, user, client, since) in rows.decode((Int, String, String, String, String).self) {
            holder = "\(application.isEmpty ? "a session" : "'\(application)'") (user \(user), \(client), pid \(pid), "
                + "connected since \(since) UTC)"
        }
        return holder
    }

    // MARK: Connection

    private func withSession<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws(MigrationError) -> Result {
        let connection = try await connect()
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            if let error = error as? MigrationError { throw error }
            throw Self.map(error)
        }
    }

    private func connect() async throws(MigrationError) -> PostgresConnection {
        var connectionConfiguration: PostgresConnection.Configuration
        do {
            connectionConfiguration = try configuration.makeConnectionConfiguration()
        } catch {
            throw .usage("cannot set up TLS for the database connection: \(error)")
        }
        connectionConfiguration.options.additionalStartupParameters = [
            ("application_name", "timesheets migrate on \(Self.hostName) pid \(getpid())")
        ]
        let started = ContinuousClock.now
        var lastReport: ContinuousClock.Instant?
        while true {
            do {
                return try await PostgresConnection.connect(
                    configuration: connectionConfiguration, id: 1, logger: logger)
            } catch {
                logger.debug("connection attempt failed", metadata: ["error": "\(String(reflecting: error))"])
                let (retryable, message) = Self.classify(error)
                guard retryable else { throw .connectionRejected("\(configuration.redactedDescription): \(message)") }
                guard let waitTimeout = options.waitTimeout else {
                    throw .unreachable(
                        "\(configuration.redactedDescription): \(message) (pass --wait to retry while it starts)")
                }
                let waited = ContinuousClock.now - started
                guard waited < waitTimeout else {
                    throw .unreachable("\(configuration.redactedDescription): \(message), still after \(waitTimeout)")
                }
                if lastReport.map({ ContinuousClock.now - $0 >= .seconds(5) }) ?? true {
                    output("waiting for the database at \(configuration.redactedDescription): \(message)")
                    lastReport = ContinuousClock.now
                }
                try? await Task.sleep(for: min(.milliseconds(500), waitTimeout - waited))
                if Task.isCancelled { throw .unreachable("cancelled while waiting for the database") }
            }
        }
    }

    /// Whether a failed connection attempt is worth retrying, and what to tell the operator.
    static func classify(_ error: any Error) -> (retryable: Bool, message: String) {
        guard let psql = error as? PSQLError else { return (true, "\(error)") }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? ""
            let message = (psql.serverInfo?[.message] ?? "server error") + " [SQLSTATE \(state)]"
            // Starting up, shutting down, or out of connections: wait. Credentials, unknown database: fail fast.
            return (["57P03", "57P01", "57P02", "53300", "53400"].contains(state) || state.hasPrefix("08"), message)
        case .sslUnsupported:
            return (false, "the server does not support TLS; use sslmode=disable or enable TLS on the server")
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            return (false, "authentication failed (\(psql.code)); check the user name and password")
        case .connectionError:
            return (true, psql.underlying.map { "\($0)" } ?? "cannot connect")
        default:
            return (true, "\(psql.code)" + (psql.underlying.map { ": \($0)" } ?? ""))
        }
    }

    /// A database error outside any migration file's SQL (bookkeeping, lock, lost connection).
    static func map(_ error: any Error) -> MigrationError {
        if let error = error as? MigrationError { return error }
        guard let psql = error as? PSQLError else { return .unreachable("\(error)") }
        if psql.code == .server {
            let state = psql.serverInfo?[.sqlState] ?? ""
            return .connectionRejected((psql.serverInfo?[.message] ?? "server error") + " [SQLSTATE \(state)]")
        }
        return .unreachable("lost the connection (\(psql.code))" + (psql.underlying.map { ": \($0)" } ?? ""))
    }

    static var hostName: String { ProcessInfo.processInfo.hostName }
}

extension MigrationProblem {
    var version: Int64 {
        switch self {
        case .modified(let version, _, _, _), .missingFile(let version, _), .outOfOrder(let version, _, _),
            .failed(let version, _, _, _):
            version
        }
    }
}

/// One row of `schema_migrations`.
public struct MigrationRecord: Hashable, Sendable, Codable {
    public var version: Int64
    public var name: String
    public var checksum: String
    /// `applied`, `running` (a no-transaction file in progress or interrupted) or `failed`.
    public var status: String
    public var transactional: Bool
    public var appliedAt: Date
    public var executionMilliseconds: Int64
    public var appliedBy: String
    public var error: String?
}

/// The answer of `timesheets migrate status`.
public struct MigrationStatus: Sendable, Encodable {
    public struct Entry: Hashable, Sendable, Encodable {
        public var version: String
        public var name: String
        /// `applied`, `pending`, `failed`, `running`, `modified`, `missing file` or `out of order`.
        public var state: String
        public var appliedAt: Date?
        public var executionMilliseconds: Int64?
        public var appliedBy: String?
        public var transactional: Bool
    }

    public var database: String
    public var entries: [Entry]
    public var pending: Int
    public var problems: [String]

    init(database: String, files: [MigrationFile], history: [MigrationRecord], problems: [MigrationProblem]) {
        self.database = database
        let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
        let records = Dictionary(uniqueKeysWithValues: history.map { ($0.version, $0) })
        let newest = history.filter { $0.status == "applied" }.map(\.version).max() ?? 0
        var entries: [Entry] = []
        for version in Set(byVersion.keys).union(records.keys).sorted() {
            let file = byVersion[version]
            let record = records[version]
            let state: String
            switch (file, record) {
            case (_, let record?) where record.status != "applied": state = record.status
            case (nil, _?): state = "missing file"
            case (let file?, let record?): state = file.checksum == record.checksum ? "applied" : "modified"
            case (_?, nil): state = version < newest ? "out of order" : "pending"
            case (nil, nil): continue
            }
            entries.append(
                Entry(
                    version: MigrationFile.label(version), name: file?.name ?? record?.name ?? "",
                    state: state, appliedAt: record?.appliedAt, executionMilliseconds: record?.executionMilliseconds,
                    appliedBy: record?.appliedBy, transactional: file?.isTransactional ?? record?.transactional ?? true))
        }
        self.entries = entries
        self.pending = entries.filter { $0.state == "pending" || $0.state == "out of order" }.count
        self.problems = problems.map(\.description)
    }

    /// `0` up to date, `1` pending files, `3` problems.
    public var exitCode: MigrateExitCode {
        problems.isEmpty ? (pending > 0 ? .pending : .success) : .validationFailure
    }

    /// A table for people.
    public func table() -> String {
        let formatter = ISO8601DateFormatter()
        let header = ["VERSION", "NAME", "STATE", "APPLIED AT (UTC)", "TIME", "BY"]
        let rows = entries.map { entry in
            [
                entry.version, entry.name + (entry.transactional ? "" : " (no-tx)"), entry.state,
                entry.appliedAt.map { formatter.string(from: $0) } ?? "",
                entry.executionMilliseconds.map { "\($0) ms" } ?? "", entry.appliedBy ?? "",
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        var lines = ["database: \(database)", line(header)] + rows.map(line)
        if entries.isEmpty { lines.append("(no migrations)") }
        lines.append(
            pending == 0 ? "up to date" : "\(pending) pending")
        lines += problems.map { "problem: \($0)" }
        return lines.joined(separator: "\n")
    }

    /// The same as JSON, for scripts.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}

/// Finds the migrations folder when `--migrations-dir` is not given.
public enum MigrationDirectory {
    /// `explicit` when given; else `migrations` in the working directory; else next to the executable (or up to
    /// five folders above it, which covers `swift run`), or in `share/timesheets/migrations` beside its `bin`.
    public static func locate(
        explicit: String?, workingDirectory: String = FileManager.default.currentDirectoryPath,
        executablePath: String = CommandLine.arguments.first ?? ""
    ) throws(MigrationError) -> String {
        let fileManager = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var flag: ObjCBool = false
            return fileManager.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
        }
        if let explicit {
            guard isDirectory(explicit) else { throw .usage("--migrations-dir \(explicit) is not a directory") }
            return explicit
        }
        var candidates = [(workingDirectory as NSString).appendingPathComponent("migrations")]
        let executable = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        candidates.append(folder.appendingPathComponent("share/timesheets/migrations").path)
        candidates.append(folder.deletingLastPathComponent().appendingPathComponent("share/timesheets/migrations").path)
        for _ in 0..<6 {
            candidates.append(folder.appendingPathComponent("migrations").path)
            folder = folder.deletingLastPathComponent()
        }
        if let bundled = Bundle.main.resourceURL?.appendingPathComponent("migrations").path {
            candidates.append(bundled)
        }
        if let found = candidates.first(where: isDirectory) { return found }
        throw .usage(
            "no migrations directory found; pass --migrations-dir. Looked in:\n"
                + candidates.map { "  \($0)" }.joined(separator: "\n"))
    }
}
