import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import TimesheetDomain

/// Gives every request an id, writes one log line per request and records request metrics.
///
/// Outermost middleware: it sees the final response, errors already rendered.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: ServerMetrics
    let requestIDs = RequestIDs()

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestID = Self.acceptedRequestID(request.headers[.xRequestID]) ?? requestIDs.next()
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // The error middleware renders everything; this only catches what escapes it.
            response = ErrorMiddleware.render(error, requestID: context.requestID, logger: context.logger)
        }
        response.headers[.xRequestID] = context.requestID
        let duration = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(
            method: Self.methodLabel(request.method),
            route: route,
            status: Int(response.status.code),
            duration: duration
        )
        // Built only when the line is written (the logger takes autoclosures), so a quieter LOG_LEVEL costs nothing.
        context.logger.info(
            "request",
            metadata: Self.metadata(request, response, route: route, duration: duration, facts: context.facts)
        )
        return response
    }

    static func metadata(
        _ request: Request,
        _ response: Response,
        route: String,
        duration: Duration,
        facts: RequestFacts
    ) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "method": .string(methodLabel(request.method)),
            "route": .string(route),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(milliseconds(duration)),
        ]
        if let userID = facts.userID { metadata["user_id"] = .string(userID) }
        if let reason = facts.authFailureReason { metadata["auth_failure"] = .string(reason) }
        return metadata
    }

    /// `12.34`: milliseconds with two decimals, from whole microseconds (no `String(format:)`, which goes through
    /// Foundation's formatter on every request).
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = max(0, seconds * 100_000 + attoseconds / 10_000_000_000_000)
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }

    /// Known methods by name, anything else as `OTHER`, so clients cannot grow the metric label set.
    static func methodLabel(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .head, .post, .put, .patch, .delete, .options: method.rawValue
        default: "OTHER"
        }
    }

    /// A caller's id is kept when it is short and plain, so it can be logged safely.
    static func acceptedRequestID(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count),
            value.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            })
        else { return nil }
        return value
    }

}

/// Request ids unique within a router and, through a random 64-bit prefix, across processes: cheaper than a UUID per
/// request, and they sort by arrival within one process (`3f9a1c2e5b7d0a11-00000000000001a4`).
final class RequestIDs: Sendable {
    private let prefix: String
    private let counter = Atomic<UInt64>(0)

    init(prefix: UInt64 = .random(in: .min ... .max)) {
        self.prefix = Self.hex(prefix) + "-"
    }

    func next() -> String {
        prefix + Self.hex(counter.add(1, ordering: .relaxed).newValue)
    }

    /// 16 lowercase hex digits.
    static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.utf8.count) + text
    }
}

/// Turns every error into an RFC 9457 problem response; never leaks internals.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.render(error, requestID: context.requestID, logger: context.logger)
        }
    }

    static func render(_ error: any Error, requestID: String, logger: Logger) -> Response {
        if let error = error as? any OwnResponseError {
            // The dev identity provider answers token requests the way OAuth clients expect.
            return error.render()
        }
        return problem(for: error, logger: logger).render(requestID: requestID)
    }

    static func problem(for error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as TimesheetError:
            return Problem(error)
        case is NIOTooManyBytesError:
            return Problem(
                status: .contentTooLarge,
                code: "body_too_large",
                title: "Request body too large",
                detail: "The body is too large."
            )
        case let error as any DependencyError where error.isUnavailable:
            logger.warning("dependency unavailable", metadata: ["error": .string(String(reflecting: error))])
            return .unavailable(error.clientMessage)
        case let error as HTTPError:
            return Problem(
                status: error.status,
                code: Self.code(for: error.status),
                title: error.status.reasonPhrase,
                detail: error.body ?? Self.detail(for: error.status),
                headers: error.headers
            )
        case let error as any HTTPResponseError:
            return Problem(
                status: error.status,
                code: Self.code(for: error.status),
                title: error.status.reasonPhrase,
                detail: Self.detail(for: error.status)
            )
        default:
            logger.error("unexpected error", metadata: ["error": .string(String(reflecting: error))])
            return .internalError()
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "body_too_large"
        case 400: "bad_request"
        default: status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
        }
    }

    static func detail(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "There is no such resource; see /openapi.json for the routes."
        case 405: "This method is not allowed on this resource; see /openapi.json."
        default: status.reasonPhrase
        }
    }
}

/// An error that answers with its own response instead of a problem: routes mounted through `extraRoutes` (the dev
/// identity provider's OAuth errors) speak their own protocol, and the error middleware must not rewrite them.
package protocol OwnResponseError: Error {
    func render() -> Response
}

/// An error of a dependency (the database). When it is unavailable the answer is 503 with `Retry-After`; any other
/// dependency error is a 500.
protocol DependencyError: Error {
    var isUnavailable: Bool { get }
    /// What a client may be told (no internals).
    var clientMessage: String { get }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
}
