import PostgresNIO

/// A PostgreSQL server error's SQLSTATE and what it says about the database: the one list of codes that the
/// repository (answer 503 or 500, ``StoreError/init(classifying:)``) and the migrator (wait for the database or fail
/// fast, `Migrator.classify`) both read.
struct SQLState: Hashable, Sendable {
    /// The five characters, e.g. `57P03`.
    var code: String

    init(_ code: String) {
        self.code = code
    }

    /// The SQLSTATE of a server error; `nil` for a driver error (no server answered).
    init?(_ error: PSQLError) {
        guard error.code == .server else { return nil }
        self.init(error.serverInfo?[.sqlState] ?? "")
    }

    /// 55P03, lock_not_available: `lock_timeout` passed before the lock was free.
    static let lockNotAvailable = SQLState("55P03")

    /// What the database's state means for a caller.
    enum Condition: Sendable {
        /// Starting up, shutting down, or out of connections: 57P03, 57P01, 57P02, 53300, 53400.
        case notReady
        /// Class 08, connection exception: the connection failed or was lost.
        case connectionFailed
        /// Class 28 (invalid authorization) or 3D000 (no such database): waiting will not help.
        case refused
        /// 57014, query_canceled: `statement_timeout` stopped the statement.
        case statementTimeout
        /// Anything else: a bug, a schema mismatch, or an error of the SQL itself.
        case other
    }

    var condition: Condition {
        switch code {
        case "57P01", "57P02", "57P03", "53300", "53400": .notReady
        case "57014": .statementTimeout
        case "3D000": .refused
        case _ where code.hasPrefix("08"): .connectionFailed
        case _ where code.hasPrefix("28"): .refused
        default: .other
        }
    }

    /// Whether the database may accept the same request once it has started or freed a connection.
    var isWorthWaitingFor: Bool {
        condition == .notReady || condition == .connectionFailed
    }
}
