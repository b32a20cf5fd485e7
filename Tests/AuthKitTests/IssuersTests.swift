import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Foundation
import Testing

/// Several issuers: each with its own keys, fetches and limits; a token is checked only with its issuer's keys.
@Suite("Several issuers")
struct IssuersTests {
    static func withTwoIssuers(
        _ configure: (inout AuthConfiguration) -> Void = { _ in },
        _ body: (JWKSTestServer, JWKSTestServer, BearerAuthenticator, ManualClock) async throws -> Void
    ) async throws {
        // Both issuers sign with a key whose kid is "test-key-1": the kid alone must never pick the key.
        try await JWKSTestServer.withRunning(try TestTokenIssuer()) { first in
            try await JWKSTestServer.withRunning(try TestTokenIssuer()) { second in
                let clock = ManualClock()
                var configuration = AuthConfiguration(
                    issuers: [first.issuerURL, second.issuerURL],
                    audiences: [Fixture.audience]
                )
                configure(&configuration)
                let auth = BearerAuthenticator(
                    configuration: configuration,
                    httpClient: .shared,
                    logger: Fixture.logger,
                    clock: clock.authClock
                )
                try await body(first, second, auth, clock)
            }
        }
    }

    static func token(_ server: JWKSTestServer, iss: String? = nil, clock: ManualClock) -> String {
        server.issuer.mint(
            TestTokenIssuer.claims(issuer: iss ?? server.issuerURL, audience: .string(Fixture.audience), now: clock.now)
        )
    }

    @Test("Each issuer's tokens verify with its own keys, fetched from its own JWKS")
    func eachIssuer() async throws {
        try await Self.withTwoIssuers { first, second, auth, clock in
            #expect(first.issuer.keyID == second.issuer.keyID)
            let one = try await auth.checked(Self.token(first, clock: clock))
            #expect(one.issuer == first.issuerURL)
            let two = try await auth.checked(Self.token(second, clock: clock))
            #expect(two.issuer == second.issuerURL)
            #expect(first.jwksRequestCount == 1)
            #expect(second.jwksRequestCount == 1)
        }
    }

    @Test("A token signed by one issuer's key but naming the other issuer fails: the same kid never crosses")
    func kidNeverCrosses() async throws {
        try await Self.withTwoIssuers { first, second, auth, clock in
            _ = try await auth.checked(Self.token(first, clock: clock))
            _ = try await auth.checked(Self.token(second, clock: clock))
            let crossed = Self.token(second, iss: first.issuerURL, clock: clock)
            let f = await failure { () async throws(AuthFailure) in try await auth.verify(token: crossed) }
            #expect(f?.reason == .badSignature)
        }
    }

    @Test("An unknown issuer is refused before any key lookup, so it causes no fetch at all")
    func unknownIssuer() async throws {
        try await Self.withTwoIssuers { first, second, auth, clock in
            let stranger = Self.token(first, iss: "https://evil.example.com/", clock: clock)
            let f = await failure { () async throws(AuthFailure) in try await auth.verify(token: stranger) }
            #expect(f?.reason == .wrongIssuer)
            let noIssuer = first.issuer.mint(
                TestTokenIssuer.claims(issuer: "x", audience: .string(Fixture.audience), now: clock.now)
                    .filter { $0.key != "iss" }
            )
            let g = await failure { () async throws(AuthFailure) in try await auth.verify(token: noIssuer) }
            #expect(g?.description == "Missing 'iss' claim")
            #expect(first.jwksRequestCount + first.discoveryRequestCount == 0)
            #expect(second.jwksRequestCount + second.discoveryRequestCount == 0)
        }
    }

    @Test("Each issuer has its own rate limit: forged kids at one do not spend the other's fetches")
    func ownRateLimit() async throws {
        let limits: (inout AuthConfiguration) -> Void = {
            $0.jwksRequestsPerMinute = 2
            $0.jwksCooldown = .zero
        }
        try await Self.withTwoIssuers(limits) {
            first,
            second,
            auth,
            clock in
            for index in 0..<5 {
                let forged = first.issuer.mint(
                    TestTokenIssuer.claims(
                        issuer: first.issuerURL,
                        audience: .string(Fixture.audience),
                        now: clock.now
                    ),
                    header: ["kid": .string("forged-\(index)")]
                )
                _ = await failure { () async throws(AuthFailure) in try await auth.verify(token: forged) }
            }
            #expect(first.jwksRequestCount == 2)
            _ = try await auth.checked(Self.token(second, clock: clock))
            #expect(second.jwksRequestCount == 1)
        }
    }

    @Test("Readiness per issuer: one provider down leaves the other's keys ready")
    func statusPerIssuer() async throws {
        try await Self.withTwoIssuers { first, second, auth, _ in
            second.setFailureMode(.unavailable)
            await #expect(throws: (any Error).self) { try await auth.prefetchKeys() }
            #expect(auth.keysStatus(ofIssuerAt: 0).state == .fresh)
            #expect(auth.keysStatus(ofIssuerAt: 1).state == .absent)
            #expect(auth.keysStatus.state == .absent)
            second.setFailureMode(.none)
        }
    }
}

@Suite("Required claims")
struct RequiredClaimTests {
    @Test("claimEquals: a missing or different value is 401 Unexpected '<claim>' value")
    func equals() async throws {
        let verifiedEmail: (inout AuthConfiguration) -> Void = { $0.requiredClaims = [.equals("email_verified", true)] }
        try await withHarness(configure: verifiedEmail) { h in
            let verified = try await h.auth.checked(h.token(["email_verified": true]))
            #expect(verified.subject == "auth0|user-1")
            for value: JSONClaimValue? in [false, "true", nil] {
                var extra: [String: JSONClaimValue] = [:]
                if let value { extra["email_verified"] = value }
                let token = h.token(extra)
                let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
                #expect(f?.reason == .unexpectedClaimValue)
                #expect(f?.wwwAuthenticate == Fixture.invalidToken("Unexpected 'email_verified' value"))
            }
        }
    }

    @Test("claimIncludes: an array or a space-separated string holding the value")
    func includes() async throws {
        let staff: (inout AuthConfiguration) -> Void = { $0.requiredClaims = [.includes("roles", "staff")] }
        try await withHarness(configure: staff) { h in
            _ = try await h.auth.checked(h.token(["roles": ["admin", "staff"]]))
            _ = try await h.auth.checked(h.token(["roles": "admin staff"]))
            for value: JSONClaimValue in [["admin"], "staffer", 1] {
                let token = h.token(["roles": value])
                let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
                #expect(f?.description == "Unexpected 'roles' value")
            }
        }
    }
}
