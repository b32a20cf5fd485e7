import Foundation

/// Why the store could not do what was asked, apart from the domain's own ``TimesheetDomain/TimesheetError``s.
///
/// The server maps ``unavailable(_:underlying:)`` to 503 and anything else to 500. The underlying error is for logs
/// only (log it with `String(reflecting:)`); it can hold SQL and must never reach a client.
public enum StoreError: Error, CustomStringConvertible {
    /// The database could not be reached, refused the connection, or did not answer within the query timeout.
    case unavailable(Reason, underlying: (any Error)?)
    /// The database answered with an error the store did not expect (a bug or a schema mismatch).
    case unexpected(underlying: any Error)

    /// What made the database unavailable.
    public enum Reason: String, Sendable {
        /// No connection could be made or kept (refused, reset, closed, shut down).
        case unreachable
        /// The operation did not finish within the configured query timeout.
        case timedOut = "timed out"
        /// The server is starting up, shutting down or out of connections.
        case notReady = "not ready"
        /// Concurrent writes to the same days kept colliding (deadlocks broken by PostgreSQL) past the retries.
        case contended = "busy"
    }

    /// A message safe to show anywhere: it never contains SQL or server text.
    public var description: String {
        switch self {
        case .unavailable(let reason, _): "The database is unavailable (\(reason.rawValue))."
        case .unexpected: "The database reported an unexpected error."
        }
    }

    /// The error to log, with whatever detail the driver gave.
    public var underlyingError: (any Error)? {
        switch self {
        case .unavailable(_, let underlying): underlying
        case .unexpected(let underlying): underlying
        }
    }

    /// Whether the server should answer 503 (retry later) rather than 500.
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }
}
