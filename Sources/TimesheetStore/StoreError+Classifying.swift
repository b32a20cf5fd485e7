import Logging
import PostgresNIO

extension StoreError {
    /// Sorts a driver error into "unavailable" (503) or "unexpected" (500).
    public init(classifying error: any Error) {
        if error is DeadlineExceeded || error is CancellationError {
            self = .unavailable(.timedOut, underlying: error)
            return
        }
        guard let error = error as? PSQLError else {
            self = .unexpected(underlying: error)
            return
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
            .sslUnsupported, .failedToAddSSLHandler:
            self = .unavailable(.unreachable, underlying: error)
        case .queryCancelled:
            self = .unavailable(.timedOut, underlying: error)
        case .server:
            switch SQLState(error)?.condition ?? .other {
            case .statementTimeout: self = .unavailable(.timedOut, underlying: error)
            case .notReady: self = .unavailable(.notReady, underlying: error)
            case .connectionFailed, .refused: self = .unavailable(.unreachable, underlying: error)
            case .other: self = .unexpected(underlying: error)
            }
        default:
            self = .unexpected(underlying: error)
        }
    }

    /// `error` as a store error (a ``StoreError`` as it is, anything else classified), logged once as `message`.
    static func logged(
        _ error: any Error,
        to logger: Logger,
        as message: Logger.Message = "database error"
    ) -> StoreError {
        if let error = error as? StoreError {
            logger.error(message, metadata: ["error": "\(String(reflecting: error.underlyingError as Any))"])
            return error
        }
        let mapped = StoreError(classifying: error)
        logger.error(message, metadata: ["error": "\(String(reflecting: error))", "mapped": "\(mapped.description)"])
        return mapped
    }
}
