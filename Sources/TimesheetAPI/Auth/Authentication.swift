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
        let principal = try await principal(request, context: context, needsScope: permission.map(Scopes.scope(for:)))
        guard !principal.userID.isEmpty, principal.userID.utf8.count <= TimesheetRules.maxUserIDLength else {
            // Every owner check hangs on this id: a token that names no usable user is not valid here.
            context.facts.authFailureReason = "invalid_user_id"
            metrics.recordAuthFailure(reason: "invalid_user_id")
            throw Problem(
                status: .unauthorized, code: "invalid_token", title: "Unauthorized",
                detail: "The token's user claim is empty or longer than \(TimesheetRules.maxUserIDLength) characters.",
                headers: [.wwwAuthenticate: #"Bearer realm="\#(authenticator.configuration.realm)", error="invalid_token", error_description="Invalid user claim""#])
        }
        context.facts.userID = principal.userID
        return (Caller(userID: principal.userID, permissions: Scopes.permissions(granting: principal.scopes)), principal)
    }
}

extension Authentication {
    /// The verified principal of a request that holds `scope`, or the RFC 6750 problem.
    ///
    /// - Parameters:
    ///   - scope: The scope the route needs; `nil` for "any valid token".
    func principal(_ request: Request, context: AppRequestContext, needsScope scope: String?) async throws -> Principal {
        do throws(AuthFailure) {
            let principal = try await authenticator.authenticate(request.headers, query: request.uri.query)
            if let scope {
                try authenticator.authorize(principal, .all([scope]))
            }
            return principal
        } catch let failure {
            let reason = failure.reason.rawValue
            context.facts.authFailureReason = reason
            metrics.recordAuthFailure(reason: reason)
            if failure.reason == .keysUnavailable {
                // Our identity provider is unreachable and no keys are cached: our fault, not the token's.
                var problem = Problem.unavailable("Signing keys cannot be loaded from the identity provider; retry shortly.")
                problem.headers[.wwwAuthenticate] = failure.wwwAuthenticate
                throw problem
            }
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
