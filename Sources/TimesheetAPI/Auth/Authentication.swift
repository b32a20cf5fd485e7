import AuthKit
import Foundation
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

/// Who a request speaks for: what the API needs of a verified access token.
struct Identity: Sendable, Equatable {
    /// The user (the configured user-id claim, or a machine client's `sub`).
    var userID: String
    var subject: String
    var scopes: Set<String>
    var clientID: String?
    var isMachine: Bool
    var expiresAt: Date

    /// The caller the domain sees: the user and the permissions the scopes grant.
    var caller: Caller {
        Caller(userID: userID, permissions: Scopes.permissions(granting: scopes))
    }
}

/// The seam between the router and token verification: a request's credentials in, an ``Identity`` out.
///
/// Failures are thrown as the problem to answer with (401 or 400 with an RFC 6750 challenge; 503 when the signing
/// keys cannot be loaded). Production verifies bearer tokens with AuthKit (``BearerIdentityVerifier``); router tests
/// may plug in a verifier that knows its callers without tokens.
protocol IdentityVerifier: Sendable {
    /// The `realm` of this verifier's challenges, also used for the 403 of a missing scope.
    var realm: String { get }
    func identity(of request: Request, context: AppRequestContext) async throws -> Identity
}

/// Verifies `Authorization: Bearer` and `Authorization: DPoP` tokens with AuthKit and counts every failure by reason.
struct BearerIdentityVerifier: IdentityVerifier {
    let authenticator: BearerAuthenticator
    let metrics: ServerMetrics
    /// The service's public URL (`PUBLIC_BASE_URL`), which DPoP proofs name; `nil`: the request's scheme and `Host`.
    var publicBaseURL: String? = nil

    var realm: String { authenticator.configuration.realm }

    func identity(of request: Request, context: AppRequestContext) async throws -> Identity {
        let principal: Principal
        do throws(AuthFailure) {
            principal = try await authenticator.authenticate(
                request.headers,
                query: request.uri.query,
                request: DPoPRequest(method: request.method.rawValue, url: publicURL(of: request))
            )
        } catch let failure {
            context.facts.authFailureReason = failure.reason.rawValue
            metrics.recordAuthFailure(reason: failure.reason.rawValue)
            switch failure.reason {
            case .keysUnavailable:
                // Our identity provider is unreachable and no keys are cached: our fault, not the token's.
                var problem = Problem.unavailable(
                    "Signing keys cannot be loaded from the identity provider; retry shortly."
                )
                problem.headers[.wwwAuthenticate] = failure.wwwAuthenticate
                throw problem
            case .replayStoreUnavailable:
                var problem = Problem.unavailable("DPoP proofs cannot be checked for replay now; retry shortly.")
                problem.headers[.wwwAuthenticate] = failure.wwwAuthenticate
                throw problem
            default:
                throw Problem(failure)
            }
        }
        guard !principal.userID.isEmpty, principal.userID.utf8.count <= TimesheetRules.maxUserIDLength else {
            // Every owner check hangs on this id: a token that names no usable user is not valid here.
            context.facts.authFailureReason = "invalid_user_id"
            metrics.recordAuthFailure(reason: "invalid_user_id")
            throw Problem(
                status: .unauthorized,
                code: "invalid_token",
                title: "Unauthorized",
                detail: "The token's user claim is empty or longer than \(TimesheetRules.maxUserIDLength) characters.",
                headers: [
                    .wwwAuthenticate:
                        #"Bearer realm="\#(realm)", error="invalid_token", error_description="Invalid user claim""#
                ]
            )
        }
        return Identity(
            userID: principal.userID,
            subject: principal.subject,
            scopes: principal.scopes,
            clientID: principal.clientID,
            isMachine: principal.isMachine,
            expiresAt: principal.expiresAt
        )
    }
}

extension BearerIdentityVerifier {
    /// The URL a DPoP proof for this request must name: `PUBLIC_BASE_URL` and the path, else `http://` (the server
    /// speaks plain HTTP; TLS ends at a proxy, which is what `PUBLIC_BASE_URL` is for), the `Host` and the path.
    /// No query: RFC 9449 compares `htu` without it.
    func publicURL(of request: Request) -> String? {
        let path = request.uri.path
        if let publicBaseURL { return publicBaseURL + path }
        guard let host = request.head.authority, !host.isEmpty else { return nil }
        return "http://\(host)\(path)"
    }
}

/// What a group of routes demands: a valid token, perhaps holding one scope. Declared where the routes are
/// declared (`group.add(middleware: access.requiring(.create))`); handlers then read ``AppRequestContext/caller()``.
struct RequireAccess: RouterMiddleware {
    typealias Context = AppRequestContext
    let verifier: any IdentityVerifier
    let metrics: ServerMetrics
    /// `nil`: any valid token.
    let scope: String?
    /// Read-your-writes when reads may go to a standby; `nil` without one.
    var reads: (any ReadConsistency)? = nil
    /// Each set lists the clients (`azp` or `client_id`) allowed here; a token's client must be in every one.
    var allowedClients: [Set<String>] = []

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let identity = try await verifier.identity(of: request, context: context)
        if let scope, !identity.scopes.contains(scope) {
            context.facts.authFailureReason = AuthFailure.Reason.insufficientScope.rawValue
            metrics.recordAuthFailure(reason: AuthFailure.Reason.insufficientScope.rawValue)
            throw Problem(AuthFailure.insufficientScope([scope], realm: verifier.realm))
        }
        for allowed in allowedClients where !(identity.clientID.map(allowed.contains) ?? false) {
            context.facts.authFailureReason = "client_not_allowed"
            metrics.recordAuthFailure(reason: "client_not_allowed")
            // The challenge names the scheme the token came with (RFC 9449 §7.1 for a DPoP-bound token).
            let scheme =
                request.headers[.authorization]?.prefix(5).lowercased() == "dpop " ? "DPoP" : "Bearer"
            throw Problem(
                status: .forbidden,
                code: "client_not_allowed",
                title: "Forbidden",
                detail: "This client (azp or client_id) may not call this route.",
                headers: [
                    .wwwAuthenticate:
                        #"\#(scheme) realm="\#(verifier.realm)", error="insufficient_scope", "#
                        + #"error_description="Client not allowed""#
                ]
            )
        }
        context.identity = identity
        context.facts.userID = identity.userID
        guard let reads else { return try await next(request, context) }
        let isWrite = request.method != .get && request.method != .head
        return try await reads.serving(identity.userID, isWrite: isWrite) { try await next(request, context) }
    }
}

/// Makes the access middleware of route groups from one verifier.
struct AccessPolicy: Sendable {
    let verifier: any IdentityVerifier
    let metrics: ServerMetrics
    var reads: (any ReadConsistency)? = nil
    var clientAllowlists = ClientAllowlists()

    /// A valid token holding the scope of `permission`, from an allowed client.
    func requiring(_ permission: Permission) -> RequireAccess {
        var access = requiring(scope: Scopes.scope(for: permission))
        if permission == .batchUpload, let upload = clientAllowlists.batchUpload {
            access.allowedClients.append(upload)
        }
        return access
    }

    /// A valid token holding `scope` (`nil`: any valid token), from an allowed client.
    func requiring(scope: String?) -> RequireAccess {
        RequireAccess(
            verifier: verifier,
            metrics: metrics,
            scope: scope,
            reads: reads,
            allowedClients: clientAllowlists.everyRoute.map { [$0] } ?? []
        )
    }

    /// Any valid token.
    var anyValidToken: RequireAccess { requiring(scope: nil) }
}

extension AppRequestContext {
    /// The identity ``RequireAccess`` put here. A route without that middleware has none: a programming error,
    /// answered as 500 rather than serving the route to nobody in particular.
    func requireIdentity() throws -> Identity {
        guard let identity else { throw Problem.internalError() }
        return identity
    }

    /// The domain's caller for this request (see ``requireIdentity()``).
    func caller() throws -> Caller { try requireIdentity().caller }
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
            status: status,
            code: failure.code ?? "missing_token",
            title: title,
            detail: failure.description ?? "Send an access token: Authorization: Bearer <token>.",
            headers: [.wwwAuthenticate: failure.wwwAuthenticate]
        )
        if let nonce = failure.dpopNonce { headers[.dpopNonce] = nonce }
    }
}

extension HTTPField.Name {
    /// RFC 9449's `DPoP-Nonce` response header.
    static let dpopNonce = HTTPField.Name("DPoP-Nonce")!
}
