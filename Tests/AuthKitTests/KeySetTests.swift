import AuthKit
import AuthKitTesting
import Foundation
import Testing

@Suite("Key discovery and the key-set manager")
struct KeySetTests {
    @Test("Keys come from the discovery document's jwks_uri")
    func discovery() async throws {
        try await withHarness { h in
            #expect(h.auth.keysStatus.state == .absent)
            try await h.auth.prefetchKeys()
            #expect(h.server.discoveryRequestCount == 1)
            #expect(h.server.jwksRequestCount == 1)
            let status = h.auth.keysStatus
            #expect(status.state == .fresh)
            #expect(status.isReady)
            #expect(status.keyCount == 1)  // the EC key is skipped: ES256 is not allowed by default
            let checked1 = try await h.auth.checked(h.token())
            #expect(checked1.subject == "auth0|user-1")
            #expect(h.server.jwksRequestCount == 1)
        }
    }

    @Test("Without discovery, ISSUER/.well-known/jwks.json is used; an explicit URL skips discovery")
    func fallbackAndExplicit() async throws {
        try await withHarness { h in
            h.server.setDiscoveryEnabled(false)
            try await h.auth.prefetchKeys()
            #expect(h.server.discoveryRequestCount == 1)
            #expect(h.server.jwksRequestCount == 1)
            let checked2 = try await h.auth.checked(h.token())
            #expect(checked2.subject == "auth0|user-1")

            let explicit = h.authenticator { $0.jwksURL = h.server.jwksURL }
            try await explicit.prefetchKeys()
            #expect(h.server.discoveryRequestCount == 1)
            #expect(h.server.jwksRequestCount == 2)
        }
    }

    @Test("Concurrent first requests share one fetch")
    func singleFlight() async throws {
        try await withHarness { h in
            let token = h.token()
            let auth = h.auth
            let subjects = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await auth.verify(token: token).subject }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(subjects.count == 200)
            #expect(h.server.jwksRequestCount == 1)
        }
    }

    @Test("Unknown kid: one refetch, then the cooldown, then another refetch")
    func unknownKidCooldown() async throws {
        try await withHarness { h in
            try await h.auth.prefetchKeys()
            #expect(h.server.jwksRequestCount == 1)
            let forged = h.token(header: ["kid": "no-such-key"])
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: forged) }
            #expect(f?.status == 401)
            #expect(f?.reason == .unknownKey)
            #expect(
                f?.wwwAuthenticate
                    == #"Bearer realm="api", error="invalid_token", error_description="Unknown signing key""#
            )
            #expect(h.server.jwksRequestCount == 2)

            h.clock.advance(by: .seconds(10))
            _ = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(header: ["kid": "other"]))
            }
            #expect(h.server.jwksRequestCount == 2)

            h.clock.advance(by: .seconds(21))
            _ = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(header: ["kid": "third"]))
            }
            #expect(h.server.jwksRequestCount == 3)
        }
    }

    @Test("A flood of 500 forged kids stays within the fetch limits")
    func forgedKidFlood() async throws {
        try await withHarness { h in
            try await h.auth.prefetchKeys()
            let tokens = (0..<500).map { h.token(header: ["kid": .string("forged-\($0)")]) }
            let auth = h.auth
            let reasons = await withTaskGroup(of: AuthFailure.Reason?.self) { group in
                for token in tokens {
                    group.addTask {
                        await failure { () async throws(AuthFailure) in try await auth.verify(token: token) }?.reason
                    }
                }
                return await group.reduce(into: [AuthFailure.Reason?]()) { $0.append($1) }
            }
            #expect(reasons.count == 500)
            #expect(reasons.allSatisfy { $0 == .unknownKey })
            #expect(h.server.jwksRequestCount <= 2)
            // Real traffic is unaffected.
            let checked3 = try await h.auth.checked(h.token())
            #expect(checked3.subject == "auth0|user-1")
        }
    }

    @Test("Without a cooldown, the per-minute limit caps fetches")
    func perMinuteLimit() async throws {
        let configure: (inout AuthConfiguration) -> Void = { $0.jwksCooldown = .zero }
        try await withHarness(configure: configure) { h in
            try await h.auth.prefetchKeys()
            for index in 0..<20 {
                _ = await failure { () async throws(AuthFailure) in
                    try await h.auth.verify(token: h.token(header: ["kid": .string("f\(index)")]))
                }
                h.clock.advance(by: .seconds(1))
            }
            #expect(h.server.jwksRequestCount == 5)
            h.clock.advance(by: .seconds(45))
            _ = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(header: ["kid": "late"]))
            }
            #expect(h.server.jwksRequestCount == 6)
        }
    }

    @Test("Key rotation is picked up through the unknown-kid refetch")
    func rotation() async throws {
        try await withHarness { h in
            let oldToken = h.token()
            let checked4 = try await h.auth.checked(oldToken)
            #expect(checked4.subject == "auth0|user-1")
            h.issuer.rotate()
            #expect(h.issuer.keyID == "test-key-2")
            let newToken = h.token()
            let checked5 = try await h.auth.checked(newToken)
            #expect(checked5.subject == "auth0|user-1")
            #expect(h.server.jwksRequestCount == 2)
            let checked6 = try await h.auth.checked(oldToken)
            #expect(checked6.subject == "auth0|user-1")

            // Once the provider drops the old key and the cache refreshes, the old kid is gone (cached token too).
            h.issuer.retireOldKeys()
            h.clock.advance(by: .seconds(601))
            _ = try await h.auth.verify(token: newToken)  // stale-while-revalidate starts a refresh
            await h.auth.waitForPendingKeyFetch()
            #expect(h.server.jwksRequestCount == 3)
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: oldToken) }
            #expect(f?.reason == .unknownKey)
        }
    }

    @Test("Provider down: the last good keys keep serving within the stale window")
    func staleKeys() async throws {
        try await withHarness { h in
            try await h.auth.prefetchKeys()
            h.server.setFailureMode(.unavailable)
            h.clock.advance(by: .seconds(601))
            let checked7 = try await h.auth.checked(h.token())
            #expect(checked7.subject == "auth0|user-1")
            await h.auth.waitForPendingKeyFetch()
            #expect(h.server.jwksRequestCount == 2)
            let status = h.auth.keysStatus
            #expect(status.state == .stale)
            #expect(status.isReady)
            #expect(status.lastError != nil)
            #expect(status.age == .seconds(601))
            // Still serving, and no retry before the cooldown.
            let checked8 = try await h.auth.checked(h.token(["jti": "2"]))
            #expect(checked8.subject == "auth0|user-1")
            #expect(h.server.jwksRequestCount == 2)

            // Past the stale window nothing is served.
            h.clock.advance(by: .seconds(86_400))
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(["jti": "3"]))
            }
            #expect(f?.status == 401)
            #expect(f?.reason == .keysUnavailable)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Signing keys unavailable"))
            #expect(h.auth.keysStatus.state == .absent)
        }
    }

    @Test("A known kid is served at once while a slow refresh runs (stale-while-revalidate)")
    func staleWhileRevalidate() async throws {
        let configure: (inout AuthConfiguration) -> Void = { $0.jwksTimeout = .seconds(2) }
        try await withHarness(configure: configure) { h in
            try await h.auth.prefetchKeys()
            h.server.setFailureMode(.hang(.seconds(4)))
            h.clock.advance(by: .seconds(601))
            let started = ContinuousClock.now
            let principal = try await h.auth.verify(token: h.token())
            #expect(principal.subject == "auth0|user-1")
            #expect(ContinuousClock.now - started < .seconds(1))
            await h.auth.waitForPendingKeyFetch()
            #expect(h.auth.keysStatus.state == .stale)
            #expect(h.auth.keysStatus.lastError != nil)
            h.server.setFailureMode(.none)
        }
    }

    @Test(
        "Discovery must name the configured issuer and serve keys over https (loopback excepted) on the issuer's host",
        arguments: [
            ["issuer": JSONClaimValue.string("https://evil.example/")],
            ["issuer": .null],
            ["jwks_uri": .string("http://127.0.0.2:1/.well-known/jwks.json")],
            ["jwks_uri": .string("https://evil.example/.well-known/jwks.json")],
            ["jwks_uri": .string("ftp://127.0.0.1/jwks.json")],
        ]
    )
    func discoveryMustBeTheIssuersOwn(overrides: [String: JSONClaimValue]) async throws {
        try await withHarness { h in
            h.server.setDiscoveryOverrides(overrides)
            await #expect(throws: (any Error).self) { try await h.auth.prefetchKeys() }
            #expect(h.auth.keysStatus.state == .absent)
            #expect(h.server.jwksRequestCount == 0, "no keys are fetched from a location the issuer did not vouch for")
            let error = h.auth.keysStatus.lastError ?? ""
            #expect(error.contains("issuer") || error.contains("jwks_uri"), "\(error)")
        }
    }

    @Test("Keys at another origin, even a working JWKS on the same host, are never fetched")
    func keysAtAnotherOriginAreNeverFetched() async throws {
        let elsewhere = try TestTokenIssuer(keyID: "elsewhere")
        try await JWKSTestServer.withRunning(elsewhere) { other in
            try await withHarness { h in
                h.server.setDiscoveryOverrides(["jwks_uri": .string(other.jwksURL.absoluteString)])
                await #expect(throws: (any Error).self) { try await h.auth.prefetchKeys() }
                #expect(other.jwksRequestCount == 0, "the other port's JWKS was fetched")
                #expect(h.auth.keysStatus.lastError?.contains("origin") == true)
            }
        }
    }

    @Test("A loopback jwks_uri over http on the issuer's host is accepted")
    func loopbackDiscoveryIsAccepted() async throws {
        try await withHarness { h in
            try await h.auth.prefetchKeys()
            #expect(h.server.discoveryRequestCount == 1)
            #expect(h.server.jwksRequestCount == 1)
        }
    }

    @Test("Loading keys within limits: with the provider down, 60 attempts cause at most a handful of fetches")
    func loadingWithinLimitsRespectsTheRateLimit() async throws {
        try await withHarness { h in
            h.server.setFailureMode(.unavailable)
            for _ in 0..<60 { await h.auth.loadKeysWithinLimits() }
            #expect(h.server.jwksRequestCount <= 5)
            #expect(h.auth.keysStatus.state == .absent)
        }
    }

    @Test("Provider down with no keys yet: keys unavailable, prefetch throws, recovery after the cooldown")
    func noKeysYet() async throws {
        try await withHarness { h in
            h.server.setFailureMode(.serverError)
            await #expect(throws: (any Error).self) { try await h.auth.prefetchKeys() }
            let token = h.token()
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(f?.reason == .keysUnavailable)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Signing keys unavailable"))
            #expect(h.auth.keysStatus.state == .absent)
            #expect(!h.auth.keysStatus.isReady)

            h.server.setFailureMode(.none)
            let before = h.server.jwksRequestCount + h.server.discoveryRequestCount
            let g = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(g?.reason == .keysUnavailable)
            #expect(h.server.jwksRequestCount + h.server.discoveryRequestCount == before)
            h.clock.advance(by: .seconds(31))
            let checked9 = try await h.auth.checked(h.token())
            #expect(checked9.subject == "auth0|user-1")
        }
    }

    @Test("A garbage JWKS body and a hanging provider are failures, not crashes")
    func garbageAndHang() async throws {
        try await withHarness { h in
            h.server.setFailureMode(.garbage)
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: h.token()) }
            #expect(f?.reason == .keysUnavailable)
        }
        let configure: (inout AuthConfiguration) -> Void = { $0.jwksTimeout = .milliseconds(300) }
        try await withHarness(configure: configure) { h in
            h.server.setFailureMode(.hang(.seconds(3)))
            let started = ContinuousClock.now
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: h.token()) }
            #expect(f?.reason == .keysUnavailable)
            #expect(ContinuousClock.now - started < .seconds(2))
            h.server.setFailureMode(.none)
        }
    }

    @Test("Keys with use other than sig are skipped")
    func encryptionKeySkipped() async throws {
        try await withHarness { h in
            h.issuer.addJWKEntry(h.issuer.publicJWK(keyID: "enc-key", use: "enc"))
            h.issuer.addJWKEntry(h.issuer.publicJWK(keyID: "sig-twin", use: "sig"))
            let enc = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(header: ["kid": "enc-key"]))
            }
            #expect(enc?.reason == .unknownKey)
            let checked10 = try await h.auth.checked(h.token(header: ["kid": "sig-twin"]))
            #expect(checked10.subject == "auth0|user-1")
        }
    }

    @Test("Malformed JWKS entries are skipped; one bad key never breaks the set")
    func malformedEntriesSkipped() async throws {
        try await withHarness { h in
            h.issuer.addJWKEntry("not an object")
            h.issuer.addJWKEntry(["kty": "RSA", "kid": "no-modulus", "e": "AQAB"])
            h.issuer.addJWKEntry(["kty": "RSA", "kid": "bad-base64", "n": "!!!", "e": "AQAB"])
            h.issuer.addJWKEntry(["kty": "XYZ", "kid": "weird-kty"])
            h.issuer.addJWKEntry(["kty": "EC", "kid": "weird-curve", "crv": "P-999", "x": "AA", "y": "AA"])
            h.issuer.addJWKEntry(["kty": "RSA", "n": "AQAB", "e": "AQAB"])
            h.issuer.addJWKEntry(TestTokenIssuer.rsaJWK(bits: 1024, keyID: "too-small"))
            h.issuer.addJWKEntry(h.issuer.publicJWK(keyID: "rsa-claiming-es256", algorithm: "ES256"))
            try await h.auth.prefetchKeys()
            #expect(h.auth.keysStatus.keyCount == 1)
            let checked11 = try await h.auth.checked(h.token())
            #expect(checked11.subject == "auth0|user-1")
            let small = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(header: ["kid": "too-small"]))
            }
            #expect(small?.reason == .unknownKey)
        }
    }

    @Test("Cache-Control max-age is honoured within bounds")
    func cacheControl() async throws {
        try await withHarness { h in
            h.server.setCacheControl("public, max-age=120")
            try await h.auth.prefetchKeys()
            h.clock.advance(by: .seconds(119))
            #expect(h.auth.keysStatus.state == .fresh)
            h.clock.advance(by: .seconds(2))
            #expect(h.auth.keysStatus.state == .stale)
        }
        try await withHarness { h in
            h.server.setCacheControl("max-age=5")  // below the 60 s floor
            try await h.auth.prefetchKeys()
            h.clock.advance(by: .seconds(30))
            #expect(h.auth.keysStatus.state == .fresh)
            h.clock.advance(by: .seconds(31))
            #expect(h.auth.keysStatus.state == .stale)
        }
    }
}
