import AuthKit
import HTTPTypes
import Hummingbird
import Synchronization
import TimesheetDomain

/// What authentication learned about a request, shared with the request log middleware.
final class RequestFacts: Sendable {
    private struct State {
        var userID: String?
        var authFailureReason: String?
    }
    private let state = Mutex(State())

    var userID: String? {
        get { state.withLock { $0.userID } }
        set { state.withLock { $0.userID = newValue } }
    }
    var authFailureReason: String? {
        get { state.withLock { $0.authFailureReason } }
        set { state.withLock { $0.authFailureReason = newValue } }
    }
}

/// Turns a request's bearer token into a ``Caller`` with the permission a route needs, or into a problem with
/// AuthKit's RFC 6750 status and `WWW-Authenticate` header.
struct Authentication: Sendable {
    let authenticator: BearerAuthenticator
    let metrics: ServerMetrics

    /// - Parameters:
    ///   - permission: What the route needs; `nil` for "any valid token".
    func caller(_ request: Request, context: AppRequestContext, needs permission: Permission?) async throws
        -> (caller: Caller, principal: Principal)
    {
        do throws(AuthFailure) {
            let principal = try await authenticator.authenticate(request.headers, query: request.uri.query)
            context.facts.userID = principal.userID
            if let permission {
                try authenticator.authorize(principal, .all([Scopes.scope(for: permission)]))
            }
            return (Caller(userID: principal.userID, permissions: Scopes.permissions(granting: principal.scopes)), principal)
        } catch let failure {
            let reason = failure.reason.rawValue
            context.facts.authFailureReason = reason
            metrics.recordAuthFailure(reason: reason)
            throw Problem(failure)
        }
    }
}

extension Problem {
    /// The problem for an authentication or authorization failure, carrying AuthKit's header.
    init(_ failure: AuthFailure) {
        let status = HTTPResponse.Status(code: failure.status)
        let title: String
        switch failure.status {
        case 403: title = "Forbidden"
        case 400: title = "Bad request"
        default: title = "Unauthorized"
        }
        self.init(
            status: status, code: failure.code ?? "missing_token", title: title,
            detail: failure.description ?? "Send an access token: Authorization: Bearer <token>.",
            headers: [.wwwAuthenticate: failure.wwwAuthenticate])
    }
}
