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
///
/// The commands `up`, `status` and `validate` are here; the steps they share live beside this file, one
/// responsibility each: `Migrator+Connection` (connecting, retries, error classification), `+Lock`, `+History`,
/// `+Validation`, `+Applying`, `+Repair` and `+Scaffolding` (`create`). `MigrationStatus` renders `status`.
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
    let logger: Logger
    let output: @Sendable (String) -> Void

    /// - Parameters:
    ///   - configuration: Where the database is; its pool settings and query timeout are not used.
    ///   - directory: The folder with the `.sql` files.
    ///   - output: Receives progress lines meant for the operator (standard output in the command).
    public init(
        configuration: DatabaseConfiguration,
        directory: String,
        options: Options = Options(),
        logger: Logger = Logger(label: "timesheets.migrate"),
        output: @escaping @Sendable (String) -> Void = { print($0) }
    ) {
        self.configuration = configuration
        self.directory = directory
        self.options = options
        self.logger = logger
        self.output = output
    }

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
                database: configuration.redactedDescription,
                files: files,
                history: history,
                problems: Self.problems(files: files, history: history)
            )
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
}
