import AuthKit
import AuthKitTesting
import Foundation
import Testing

@Suite("Algorithms and signatures")
struct SignatureTests {
    @Test("A valid RS256 token gives a principal")
    func valid() async throws {
        try await withHarness { h in
            let principal = try await h.auth.authenticate(bearer(h.token(["jti": "t-1"])))
            #expect(principal.subject == "auth0|user-1")
            #expect(principal.userID == "auth0|user-1")
            #expect(principal.tokenID == "t-1")
            #expect(principal.clientID == "test-client")
            #expect(principal.isMachine == false)
            #expect(principal.expiresAt == h.clock.now.addingTimeInterval(3600).rounded)
            #expect(h.server.discoveryRequestCount == 1)
            #expect(h.server.jwksRequestCount == 1)
        }
    }

    @Test("alg none is rejected before any network call")
    func algNone() async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(signer: .unsigned))
            }
            #expect(f?.status == 401)
            #expect(f?.reason == .disallowedAlgorithm)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Algorithm 'none' is not allowed"))
            #expect(h.server.jwksRequestCount == 0)
            #expect(h.server.discoveryRequestCount == 0)
        }
    }

    @Test("HS256 signed with the RSA public key as secret is rejected before any network call")
    func algorithmConfusion() async throws {
        try await withHarness { h in
            let token = h.token(
                signer: .hmac(secret: Array(h.issuer.publicKeyPEM.utf8)),
                header: ["kid": .string(h.issuer.keyID)]
            )
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(f?.status == 401)
            #expect(f?.reason == .disallowedAlgorithm)
            #expect(
                f?.wwwAuthenticate
                    == #"Bearer realm="api", error="invalid_token", "#
                    + #"error_description="Algorithm 'HS256' is not allowed""#
            )
            #expect(h.server.jwksRequestCount == 0)

            // Even with HS256 allowed, an HS token is never checked against the asymmetric keys.
            let lenient = h.authenticator { $0.algorithms = ["RS256", "HS256"] }
            let g = await failure { () async throws(AuthFailure) in try await lenient.verify(token: token) }
            #expect(g?.reason == .disallowedAlgorithm)
            #expect(h.server.jwksRequestCount == 0)
        }
    }

    @Test("A tampered payload fails the signature check")
    func tampered() async throws {
        try await withHarness { h in
            let token = h.token()
            let forged = TestTokenIssuer.replacingPayload(of: token, with: h.claims(["sub": "auth0|admin"]))
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: forged) }
            #expect(f?.status == 401)
            #expect(f?.reason == .badSignature)
            #expect(
                f?.wwwAuthenticate
                    == #"Bearer realm="api", error="invalid_token", error_description="Invalid signature""#
            )
            // The untouched token still verifies.
            let checked1 = try await h.auth.checked(token)
            #expect(checked1.subject == "auth0|user-1")
        }
    }

    @Test("A signature from another key under the same kid fails")
    func foreignKeySameKid() async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(signer: .foreignRSA))
            }
            #expect(f?.reason == .badSignature)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Invalid signature"))
        }
    }

    @Test("An algorithm outside the allowlist is refused; one that does not fit the key too")
    func allowlistAndKeyMatch() async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(signer: .rsa("RS384")))
            }
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Algorithm 'RS384' is not allowed"))

            // The JWK says alg RS256: an RS384 token under that kid does not match the key.
            let broad = h.authenticator { $0.algorithms = ["RS256", "RS384"] }
            let g = await failure { () async throws(AuthFailure) in
                try await broad.verify(token: h.token(signer: .rsa("RS384")))
            }
            #expect(g?.reason == .algorithmKeyMismatch)
            #expect(g?.wwwAuthenticate == Fixture.invalidToken("Algorithm 'RS384' does not match the signing key"))

            // ES256 claimed for an RSA kid.
            let withEC = h.authenticator { $0.algorithms = ["RS256", "ES256"] }
            let token = h.token(signer: .ecdsa, header: ["kid": .string(h.issuer.keyID)])
            let e = await failure { () async throws(AuthFailure) in try await withEC.verify(token: token) }
            #expect(e?.reason == .algorithmKeyMismatch)
        }
    }

    @Test("ES256 tokens verify against an EC JWK")
    func es256() async throws {
        let configure: (inout AuthConfiguration) -> Void = { $0.algorithms = ["RS256", "ES256"] }
        try await withHarness(configure: configure) { h in
            let principal = try await h.auth.verify(token: h.token(signer: .ecdsa))
            #expect(principal.subject == "auth0|user-1")
            // Tampering still fails for EC.
            let forged = TestTokenIssuer.replacingPayload(of: h.token(signer: .ecdsa), with: h.claims(["sub": "x"]))
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: forged) }
            #expect(f?.reason == .badSignature)
        }
    }

    @Test(
        "ES384, ES512 and EdDSA tokens verify against their JWKs; tampering, a wrong key and a short signature fail",
        arguments: TestTokenIssuer.ExtraKey.allCases
    )
    func otherCurves(key: TestTokenIssuer.ExtraKey) async throws {
        let issuer = try TestTokenIssuer(keyID: "curves-\(key.rawValue.lowercased())")
        let configure: (inout AuthConfiguration) -> Void = { $0.algorithms = ["RS256", key.rawValue] }
        try await withHarness(issuer: issuer, configure: configure) { h in
            issuer.addJWKEntry(issuer.jwk(for: key))
            let principal = try await h.auth.verify(token: h.token(signer: .extra(key)))
            #expect(principal.subject == "auth0|user-1")
            let forged = TestTokenIssuer.replacingPayload(
                of: h.token(signer: .extra(key)),
                with: h.claims(["sub": "x"])
            )
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: forged) }
            #expect(f?.reason == .badSignature)
            // The signature of another family's key under this kid.
            let wrongKey = h.token(
                signer: .ecdsa,
                header: ["alg": .string(key.rawValue), "kid": .string(issuer.keyID(for: key))]
            )
            let g = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: wrongKey) }
            #expect(g?.reason == .badSignature)
            let parts = h.token(signer: .extra(key)).split(separator: ".")
            let truncated = parts[0] + "." + parts[1] + "." + parts[2].dropLast(8)
            let t = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: String(truncated)) }
            #expect(t?.reason == .badSignature)
        }
    }

    @Test("An EC JWK whose coordinates have the wrong length is skipped, the other keys still load")
    func malformedCurveKey() async throws {
        let issuer = try TestTokenIssuer(keyID: "bad-ec")
        let configure: (inout AuthConfiguration) -> Void = { $0.algorithms = ["RS256", "ES512"] }
        try await withHarness(issuer: issuer, configure: configure) { h in
            guard case .object(var jwk) = issuer.jwk(for: .es512) else {
                Issue.record("not an object")
                return
            }
            jwk["x"] = .string(AuthBase64URL.encode([UInt8](repeating: 1, count: 32)))
            issuer.addJWKEntry(.object(jwk))
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(signer: .extra(.es512)))
            }
            #expect(f?.status == 401)
            let rsa = try await h.auth.checked(h.token())
            #expect(rsa.subject == "auth0|user-1")
        }
    }

    @Test("PS256 tokens verify when allowed and the JWK has no alg")
    func ps256() async throws {
        let issuer = try TestTokenIssuer(keyID: "pss")
        let configure: (inout AuthConfiguration) -> Void = { $0.algorithms = ["PS256"] }
        try await withHarness(issuer: issuer, configure: configure) { h in
            // Publish the same key without "alg" under another kid, so PS256 is allowed for it.
            issuer.addJWKEntry(issuer.publicJWK(keyID: "pss-noalg", algorithm: nil))
            let token = issuer.mint(h.claims(), signer: .rsa("PS256"), header: ["kid": "pss-noalg"])
            let checked2 = try await h.auth.checked(token)
            #expect(checked2.subject == "auth0|user-1")
        }
    }

    @Test("HS256 with a configured shared secret, and never a JWKS fetch")
    func hmacMode() async throws {
        try await withHarness { h in
            let secret = "a-long-shared-secret-for-tests-only"
            let auth = h.authenticator { configuration in
                configuration.hmacSecret = secret
                configuration.algorithms = ["HS256"]
            }
            let token = h.issuer.mint(h.claims(), signer: .hmac(secret: Array(secret.utf8)))
            let checked3 = try await auth.checked(token)
            #expect(checked3.subject == "auth0|user-1")
            let wrong = h.issuer.mint(h.claims(), signer: .hmac(secret: Array("another secret".utf8)))
            let f = await failure { () async throws(AuthFailure) in try await auth.verify(token: wrong) }
            #expect(f?.reason == .badSignature)
            // An RS256 token is not even looked at.
            let g = await failure { () async throws(AuthFailure) in try await auth.verify(token: h.token()) }
            #expect(g?.reason == .disallowedAlgorithm)
            #expect(auth.keysStatus.state == .sharedSecret)
            try await auth.prefetchKeys()
            #expect(h.server.jwksRequestCount == 0)
        }
    }

    @Test(
        "Garbage tokens are a malformed-token 401, never a crash",
        arguments: [
            "abc", "a.b", "a.b.c.d", "....", "eyJhbGciOiJSUzI1NiJ9.e30.", "e30.e30.e30", "!!.??.**",
        ]
    )
    func garbage(token: String) async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(f?.status == 401)
            #expect(f?.code == "invalid_token")
            #expect([.malformedToken, .unknownKey, .badSignature].contains(f?.reason))
        }
    }

    @Test("A token without kid is refused: no default key")
    func missingKid() async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(header: ["kid": .null]))
            }
            #expect(f?.reason == .unknownKey)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Missing 'kid' header"))
        }
    }
}

extension Date {
    /// Rounded down to whole seconds, as JWT numeric dates are.
    var rounded: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
