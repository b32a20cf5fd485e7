/// The documented exit codes of `timesheets migrate`.
public enum MigrateExitCode: Int32, Sendable, CaseIterable {
    /// Done, or nothing to do.
    case success = 0
    /// `status` only: migrations are pending.
    case pending = 1
    /// A migration's SQL failed; its transaction was rolled back (or a no-transaction file was marked `failed`).
    case sqlFailure = 2
    /// Files and history disagree (changed checksum, missing file, out-of-order file, failed row, bad file names).
    case validationFailure = 3
    /// Another migrator held the lock for longer than `--lock-timeout`.
    case lockTimeout = 4
    /// The database could not be reached (within `--wait-timeout` when waiting).
    case unreachable = 5
    /// The server refused us: wrong credentials, unknown database or role, TLS mismatch. Never retried.
    case connectionRejected = 6
    /// Bad arguments or configuration (no DATABASE_URL, bad URL, no migrations directory).
    case usage = 64
}

/// A disagreement between the migration files and the history table.
public enum MigrationProblem: Hashable, Sendable, CustomStringConvertible {
    /// An applied file whose contents changed since.
    case modified(version: Int64, file: String, applied: String, current: String)
    /// An applied version with no file: the database is ahead of this build.
    case missingFile(version: Int64, name: String)
    /// A pending file older than the newest applied one.
    case outOfOrder(version: Int64, file: String, newestApplied: Int64)
    /// A no-transaction file that failed or was interrupted; it blocks runs until `repair`.
    case failed(version: Int64, name: String, status: String, error: String?)

    public var description: String {
        switch self {
        case .modified(_, let file, let applied, let current):
            "\(file) was changed after it was applied (checksum \(applied.prefix(12))… in the database, "
                + "\(current.prefix(12))… on disk). Restore the file, add a new migration instead, or run "
                + "`migrate repair --realign-checksums` if the change is harmless (pass --allow-modified to proceed)."
        case .missingFile(let version, let name):
            "version \(MigrationFile.label(version)) (\(name)) is applied but has no file: the database is ahead of "
                + "this build. Deploy a build that has it (pass --allow-missing to proceed)."
        case .outOfOrder(_, let file, let newest):
            "\(file) is pending but older than the newest applied version \(MigrationFile.label(newest)). Renumber "
                + "it after \(MigrationFile.label(newest)) (pass --allow-out-of-order to apply it anyway)."
        case .failed(let version, let name, let status, let error):
            "version \(MigrationFile.label(version)) (\(name)) is marked \(status)"
                + (error.map { ": \($0)" } ?? "")
                + ". Undo what it did partially, then run `timesheets migrate repair` to clear it."
        }
    }

    /// Whether an allow-flag may waive it; failed rows always need `repair`.
    func isWaived(by options: Migrator.Options) -> Bool {
        switch self {
        case .modified: options.allowModified
        case .missingFile: options.allowMissing
        case .outOfOrder: options.allowOutOfOrder
        case .failed: false
        }
    }
}

/// Where a migration's SQL failed.
public struct MigrationFailure: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based index of the failing statement in the file.
    public var statement: Int
    public var line: Int
    public var column: Int
    /// The five-character SQLSTATE, e.g. `42P07`.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    public var isTransactional: Bool

    public var description: String {
        var text = "\(file):\(line):\(column): statement \(statement) failed"
        if let sqlState { text += " [SQLSTATE \(sqlState)]" }
        text += ": \(message)"
        if let detail { text += "\n  detail: \(detail)" }
        if let hint { text += "\n  hint: \(hint)" }
        text +=
            isTransactional
            ? "\n  The file's transaction was rolled back: nothing of it was applied."
            : "\n  This file runs without a transaction: it is now marked failed. Undo its partial effects, then run "
                + "`timesheets migrate repair`."
        return text
    }
}

/// Why `timesheets migrate` stopped; ``exitCode`` is what the process returns.
public enum MigrationError: Error, CustomStringConvertible, Sendable {
    case usage(String)
    case invalidFiles([String])
    case validationFailed([MigrationProblem])
    case migrationFailed(MigrationFailure)
    case lockTimeout(waited: Duration, holder: String?)
    case unreachable(String)
    case connectionRejected(String)

    public var exitCode: MigrateExitCode {
        switch self {
        case .usage: .usage
        case .invalidFiles, .validationFailed: .validationFailure
        case .migrationFailed: .sqlFailure
        case .lockTimeout: .lockTimeout
        case .unreachable: .unreachable
        case .connectionRejected: .connectionRejected
        }
    }

    var messages: [String] {
        switch self {
        case .invalidFiles(let problems): problems
        case .validationFailed(let problems): problems.map(\.description)
        default: [description]
        }
    }

    public var description: String {
        switch self {
        case .usage(let message): message
        case .invalidFiles(let problems):
            "the migration files are invalid:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        case .validationFailed(let problems):
            "validation failed:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        case .migrationFailed(let failure): failure.description
        case .lockTimeout(let waited, let holder):
            "another migration held the lock for \(waited) (--lock-timeout)"
                + (holder.map { "; held by \($0)" } ?? "")
        case .unreachable(let message): "the database is unreachable: \(message)"
        case .connectionRejected(let message): "the database refused the connection: \(message)"
        }
    }
}
