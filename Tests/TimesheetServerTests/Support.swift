import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI

let apiAudience = "https://api.exampleco.com/timesheets"
/// The namespaced claim the reference deployment identifies users by (`req.user['https://api.exampleco.com/email']`).
let emailClaim = "https://api.exampleco.com/email"

/// The people and machines of the reference scenario, with the permissions their roles have.
enum Role: String, CaseIterable, Sendable {
    case employee
    case contractor
    case manager
    case machine
    case reader

    var subject: String {
        switch self {
        case .machine: "batch-client@clients"
        default: "auth0|\(rawValue)"
        }
    }

    /// What an Auth0 rule adds to a user's token; a client-credentials token carries no user claims.
    var email: String? {
        self == .machine ? nil : "\(rawValue)@exampleco.com"
    }

    var scopes: [String] {
        switch self {
        case .employee, .contractor: ["read:timesheets", "create:timesheets", "update:timesheets", "delete:timesheets"]
        case .manager:
            [
                "read:timesheets", "create:timesheets", "update:timesheets", "delete:timesheets", "approve:timesheets",
                "read:reports",
            ]
        case .machine: ["batch:upload"]
        case .reader: ["read:timesheets"]
        }
    }
}

/// How a router under test learns who calls it.
enum Callers: Sendable {
    /// Real RS256 tokens from a JWKS server on 127.0.0.1, verified by AuthKit: for the tests of authentication.
    case realTokens
    /// ``FakeIdentityVerifier``: the role named in the header, no token; for the tests of what routes do.
    case fake
}

/// A router under test, its in-memory repository and a real JWKS server on 127.0.0.1 minting real RS256 tokens.
struct APIHarness: Sendable {
    let issuer: TestTokenIssuer
    let server: JWKSTestServer
    let repository: InMemoryTimesheetRepository
    let metrics: ServerMetrics
    let callers: Callers

    /// A real token for any subject with exactly `scope` (no `permissions`, no email claim), signed by `signer`.
    func token(subject: String, scope: String, signer: TestTokenIssuer.Signer = .rsa()) -> String {
        issuer.mint(
            TestTokenIssuer.claims(
                issuer: server.issuerURL,
                audience: .string(apiAudience),
                subject: subject,
                extra: ["scope": .string(scope)]
            ),
            signer: signer
        )
    }

    func token(_ role: Role, audience: String = apiAudience, lifetime: Duration = .seconds(3600)) -> String {
        if callers == .fake { return FakeIdentityVerifier.credential(for: role) }
        var extra: [String: JSONClaimValue] = [
            "scope": .string(role.scopes.joined(separator: " ")),
            "permissions": .array(role.scopes.map(JSONClaimValue.string)),
        ]
        if role == .machine { extra["gty"] = "client-credentials" }
        if let email = role.email { extra[emailClaim] = .string(email) }
        return issuer.mint(
            TestTokenIssuer.claims(
                issuer: server.issuerURL,
                audience: .array([.string(audience)]),
                subject: role.subject,
                lifetime: lifetime,
                extra: extra
            )
        )
    }

    func headers(_ role: Role?, json: Bool = true) -> HTTPFields {
        var fields: HTTPFields = [:]
        if let role { fields[.authorization] = "Bearer \(token(role))" }
        if json { fields[.contentType] = "application/json" }
        return fields
    }

    /// One signing key for all router tests: RSA key generation is slow in debug builds and would hog the
    /// cooperative thread pool that timing-sensitive tests share.
    static let sharedIssuer = Result { try TestTokenIssuer() }

    /// Runs `body` against a fresh router; the JWKS server and HTTP client are stopped afterwards.
    static func run(
        callers: Callers = .realTokens,
        bodyLimit: Int = 1 << 20,
        clientAllowlists: ClientAllowlists = ClientAllowlists(),
        publicBaseURL: String? = nil,
        configureAuth: @Sendable (inout AuthConfiguration) -> Void = { _ in },
        _ body: @Sendable (APIHarness, any TestClientProtocol) async throws -> Void
    ) async throws {
        let issuer = try sharedIssuer.get()
        try await JWKSTestServer.withRunning(issuer) { server in
            let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
                let metrics = ServerMetrics()
                var configuration = AuthConfiguration(issuer: server.issuerURL, audiences: [apiAudience])
                configureAuth(&configuration)
                let authenticator = BearerAuthenticator(
                    configuration: configuration,
                    httpClient: httpClient,
                    logger: logger,
                    metricsFactory: metrics.metricsFactory
                )
                let repository = InMemoryTimesheetRepository()
                var dependencies = RouterDependencies(
                    timesheets: TimesheetService(repository: repository),
                    identities: callers == .fake
                        ? FakeIdentityVerifier()
                        : BearerIdentityVerifier(
                            authenticator: authenticator,
                            metrics: metrics,
                            publicBaseURL: publicBaseURL
                        ),
                    readiness: [SigningKeysCheck(authenticator: authenticator)],
                    metrics: metrics,
                    corsAllowedOrigins: ["http://localhost:4200"]
                )
                dependencies.bodyLimit = bodyLimit
                dependencies.clientAllowlists = clientAllowlists
                let app = Application(router: buildRouter(dependencies), logger: logger)
                let harness = APIHarness(
                    issuer: issuer,
                    server: server,
                    repository: repository,
                    metrics: metrics,
                    callers: callers
                )
                try await app.test(.router) { client in try await body(harness, client) }
            } catch {
                try await httpClient.shutdown()
                throw error
            }
            try await httpClient.shutdown()
        }
    }
}

/// Knows its callers without tokens: `Authorization: Bearer fake:<role>` is that role, with the role's scopes.
struct FakeIdentityVerifier: IdentityVerifier {
    var realm: String { "api" }

    static func credential(for role: Role) -> String { "fake:\(role.rawValue)" }

    func identity(of request: Request, context: AppRequestContext) async throws -> Identity {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer fake:"),
            let role = Role(rawValue: String(header.dropFirst("Bearer fake:".count)))
        else {
            throw Problem(
                status: .unauthorized,
                code: "missing_token",
                title: "Unauthorized",
                detail: "No fake caller named.",
                headers: [.wwwAuthenticate: #"Bearer realm="api""#]
            )
        }
        return Identity(
            userID: role.subject,
            subject: role.subject,
            scopes: Set(role.scopes),
            clientID: "fake",
            isMachine: role == .machine,
            expiresAt: Date(timeIntervalSinceNow: 3600)
        )
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    var jsonArray: [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]] ?? []
    }

    var text: String { String(buffer: body) }

    /// The `errors[].field` of a problem response.
    var problemFields: [String] {
        (json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
    }
}

func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
