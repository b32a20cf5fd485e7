import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Foundation
import HTTPTypes
import Logging

enum Fixture {
    static let audience = "https://api.timesheets.test"
    static let logger = Logger(label: "AuthKitTests", factory: { _ in SwiftLogNoOpLogHandler() })

    static func invalidToken(_ description: String) -> String {
        #"Bearer realm="api", error="invalid_token", error_description=""# + description + #"""#
    }
}

/// A running JWKS server, a manual clock and an authenticator pointed at the server.
struct Harness {
    let issuer: TestTokenIssuer
    let server: JWKSTestServer
    let clock: ManualClock
    let auth: BearerAuthenticator
    let configuration: AuthConfiguration

    /// Valid claims for this harness at the clock's current time, with `extra` merged in.
    func claims(
        _ extra: [String: JSONClaimValue] = [:],
        lifetime: Duration = .seconds(3600)
    ) -> [String: JSONClaimValue] {
        TestTokenIssuer.claims(
            issuer: server.issuerURL,
            audience: .string(Fixture.audience),
            now: clock.now,
            lifetime: lifetime,
            extra: extra
        )
    }

    func token(
        _ extra: [String: JSONClaimValue] = [:],
        signer: TestTokenIssuer.Signer = .rsa(),
        header: [String: JSONClaimValue] = [:],
        lifetime: Duration = .seconds(3600)
    ) -> String {
        issuer.mint(claims(extra, lifetime: lifetime), signer: signer, header: header)
    }

    /// Another authenticator against the same server and clock, with a different configuration.
    func authenticator(
        _ configure: (inout AuthConfiguration) -> Void,
        isRevoked: BearerAuthenticator.RevocationCheck? = nil,
        claimChecks: [BearerAuthenticator.ClaimCheck] = []
    ) -> BearerAuthenticator {
        var configuration = self.configuration
        configure(&configuration)
        return BearerAuthenticator(
            configuration: configuration,
            httpClient: .shared,
            logger: Fixture.logger,
            clock: clock.authClock,
            isRevoked: isRevoked,
            claimChecks: claimChecks
        )
    }
}

func withHarness(
    issuer: TestTokenIssuer? = nil,
    configure: (inout AuthConfiguration) -> Void = { _ in },
    _ body: (Harness) async throws -> Void
) async throws {
    let issuer = try issuer ?? TestTokenIssuer()
    try await JWKSTestServer.withRunning(issuer) { server in
        let clock = ManualClock()
        var configuration = AuthConfiguration(issuer: server.issuerURL, audiences: [Fixture.audience])
        configure(&configuration)
        let auth = BearerAuthenticator(
            configuration: configuration,
            httpClient: .shared,
            logger: Fixture.logger,
            clock: clock.authClock
        )
        try await body(Harness(issuer: issuer, server: server, clock: clock, auth: auth, configuration: configuration))
    }
}

/// The failure thrown by `body`, or `nil` if it succeeded.
func failure(_ body: () async throws(AuthFailure) -> Principal) async -> AuthFailure? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}

func bearer(_ token: String) -> HTTPFields {
    [.authorization: "Bearer \(token)"]
}

extension BearerAuthenticator {
    /// `verify(token:)` with untyped throws, for use inside `#expect(try await ...)`.
    func checked(_ token: String) async throws -> Principal {
        try await verify(token: token)
    }

    /// `authenticate(_:query:)` with untyped throws, for use inside `#expect(try await ...)`.
    func checkedAuthenticate(
        _ fields: HTTPFields,
        query: String? = nil,
        request: DPoPRequest? = nil
    ) async throws -> Principal {
        try await authenticate(fields, query: query, request: request)
    }
}
