import Foundation
import Logging
import PostgresNIO

// One session per command: connecting, retrying while the database starts (with `--wait`), and classifying errors
// into the exit codes the command documents.
extension Migrator {
    func withSession<Result: Sendable>(
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

    func connect() async throws(MigrationError) -> PostgresConnection {
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
                    configuration: connectionConfiguration,
                    id: 1,
                    logger: logger
                )
            } catch {
                logger.debug("connection attempt failed", metadata: ["error": "\(String(reflecting: error))"])
                let (retryable, message) = Self.classify(error)
                guard retryable else { throw .connectionRejected("\(configuration.redactedDescription): \(message)") }
                guard let waitTimeout = options.waitTimeout else {
                    throw .unreachable(
                        "\(configuration.redactedDescription): \(message) (pass --wait to retry while it starts)"
                    )
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
            let state = SQLState(psql) ?? SQLState("")
            let message = (psql.serverInfo?[.message] ?? "server error") + " [SQLSTATE \(state.code)]"
            // Starting up, shutting down, out of connections, a failed connection: wait. Credentials, unknown
            // database: fail fast.
            return (state.isWorthWaitingFor, message)
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
