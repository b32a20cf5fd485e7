import AuthKit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A dependency the readiness check asks: `nil` when ready, else why not.
protocol ReadinessCheck: Sendable {
    var name: String { get }
    /// `false`: a problem is reported but the service stays ready (an optional dependency).
    var isRequired: Bool { get }
    func problem() async -> String?
}

extension ReadinessCheck {
    var isRequired: Bool { true }
}

/// Ready when the signing keys are loaded (fresh, or stale within the stale window).
///
/// A probe never causes a fetch outside AuthKit's rate limit and cooldowns (an orchestrator probing every second
/// would otherwise hammer a struggling identity provider), and its answer names no URL or host: the body is public,
/// the details are in the log.
///
/// With several issuers there is one check per issuer, named by its position in `AUTH_ISSUER` (`signing_keys_1`,
/// `signing_keys_2`, ...) rather than by its URL, since the answer is public.
struct SigningKeysCheck: ReadinessCheck {
    let authenticator: BearerAuthenticator
    var issuerIndex = 0

    var name: String {
        authenticator.configuration.issuers.count == 1 ? "signing_keys" : "signing_keys_\(issuerIndex + 1)"
    }

    /// One check per configured issuer.
    static func each(of authenticator: BearerAuthenticator) -> [SigningKeysCheck] {
        authenticator.configuration.issuers.indices.map {
            SigningKeysCheck(authenticator: authenticator, issuerIndex: $0)
        }
    }

    func problem() async -> String? {
        var status = authenticator.keysStatus(ofIssuerAt: issuerIndex)
        if status.state == .absent {
            await authenticator.loadKeysWithinLimits()
            status = authenticator.keysStatus(ofIssuerAt: issuerIndex)
        }
        switch status.state {
        case .fresh, .stale, .sharedSecret: return nil
        case .absent: return "no signing keys loaded from the identity provider"
        }
    }
}

/// Health, identity, metrics and the API description: the routes that need no permission.
struct SystemController: Sendable {
    let readiness: [any ReadinessCheck]
    let metrics: ServerMetrics

    func addRoutes(to router: Router<AppRequestContext>, access: AccessPolicy) {
        router.get("health/live") { _, _ in try Response.json(["status": "ok"]) }
        router.get("health/ready", use: ready)
        router.group().add(middleware: access.anyValidToken).get("me", use: me)
        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition()))
            )
        }
        router.get("openapi.json") { _, _ in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
                let data = try? Data(contentsOf: url)
            else { throw Problem.notFound("The API description is not bundled with this build.") }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
    }

    struct ReadyResponse: Encodable {
        var status: String
        var checks: [String: String]
    }

    /// GET /health/ready — 200 when every dependency is ready, else 503 with the reasons.
    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Response {
        var checks: [String: String] = [:]
        var ready = true
        for check in readiness {
            if let problem = await check.problem() {
                checks[check.name] = problem
                if check.isRequired { ready = false }
            } else {
                checks[check.name] = "ok"
            }
        }
        return try .json(
            ReadyResponse(status: ready ? "ready" : "unavailable", checks: checks),
            status: ready ? .ok : .serviceUnavailable,
            headers: ready ? [:] : [.retryAfter: "2"]
        )
    }

    struct MeResponse: Encodable {
        var userID: String
        var subject: String
        var permissions: [String]
        var clientID: String?
        var isMachine: Bool
        var expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case subject, permissions
            case userID = "user_id"
            case clientID = "client_id"
            case isMachine = "is_machine"
            case expiresAt = "expires_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(userID, forKey: .userID)
            try container.encode(subject, forKey: .subject)
            try container.encode(permissions, forKey: .permissions)
            try container.encode(clientID, forKey: .clientID)
            try container.encode(isMachine, forKey: .isMachine)
            try container.encode(expiresAt, forKey: .expiresAt)
        }
    }

    /// GET /me — who the token says the caller is. Any valid token.
    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        return try .json(
            MeResponse(
                userID: identity.userID,
                subject: identity.subject,
                permissions: identity.scopes.sorted(),
                clientID: identity.clientID,
                isMachine: identity.isMachine,
                expiresAt: identity.expiresAt
            )
        )
    }
}
