import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Foundation
import HTTPTypes
import Testing

/// RFC 9449 at a resource server: each check of a DPoP proof failing alone, the binding to `cnf.jkt`, the modes, the
/// challenges and the nonces.
@Suite("DPoP")
struct DPoPTests {
    static let url = "https://api.example.com/timesheets"
    static let request = DPoPRequest(method: "GET", url: url)
    static let algs = "ES256 ES384 ES512 EdDSA PS256 PS384 PS512 RS256 RS384 RS512"

    static func fields(_ token: String, proofs: [String]) -> HTTPFields {
        var fields: HTTPFields = [.authorization: "DPoP \(token)"]
        for proof in proofs { fields.append(HTTPField(name: HTTPField.Name("DPoP")!, value: proof)) }
        return fields
    }

    /// A token bound to `key`, and a correct proof for it made now.
    static func bound(_ h: Harness, _ key: DPoPTestKey) -> String {
        h.token(["cnf": ["jkt": .string(key.thumbprint)]])
    }

    static func authenticate(
        _ auth: BearerAuthenticator,
        _ token: String,
        _ proofs: [String],
        request: DPoPRequest = request
    ) async -> AuthFailure? {
        await failure { () async throws(AuthFailure) in
            try await auth.authenticate(fields(token, proofs: proofs), request: request)
        }
    }

    /// The failure of one proof made by `key` for a token bound to `key`, with `proof` shaping it.
    static func refusal(
        _ h: Harness,
        key: DPoPTestKey = DPoPTestKey(),
        boundTo bindingKey: DPoPTestKey? = nil,
        request: DPoPRequest = request,
        _ proof: (DPoPTestKey, String, Date) -> String
    ) async -> AuthFailure? {
        let token = bound(h, bindingKey ?? key)
        return await authenticate(h.auth, token, [proof(key, token, h.clock.now)], request: request)
    }

    static func proofChallenge(_ description: String, code: String = "invalid_dpop_proof") -> String {
        #"DPoP realm="api", error="\#(code)", error_description="\#(description)", algs="\#(algs)""#
    }

    @Test("A correct proof for a bound token is accepted, with ES256, ES384 and EdDSA keys")
    func accepted() async throws {
        try await withHarness { h in
            for algorithm in [DPoPTestKey.Algorithm.es256, .es384, .eddsa] {
                let key = DPoPTestKey(algorithm)
                let token = Self.bound(h, key)
                let proof = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
                let principal = try await h.auth.checkedAuthenticate(
                    Self.fields(token, proofs: [proof]),
                    request: Self.request
                )
                #expect(principal.confirmationThumbprint == key.thumbprint)
            }
        }
    }

    @Test("typ must be dpop+jwt")
    func type() async throws {
        try await withHarness { h in
            for typ: JSONClaimValue in ["JWT", .null, "at+jwt"] {
                let f = await Self.refusal(h) { key, token, now in
                    key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now, header: ["typ": typ])
                }
                #expect(f?.reason == .invalidDPoPProof)
                #expect(f?.wwwAuthenticate == Self.proofChallenge("DPoP proof 'typ' must be 'dpop+jwt'"))
            }
        }
    }

    @Test("alg: none, HS256 and an algorithm outside the allowlist are refused before any key is used")
    func algorithm() async throws {
        try await withHarness { h in
            let none = await Self.refusal(h) { key, token, now in
                let proof = key.proof(
                    method: "GET",
                    url: Self.url,
                    accessToken: token,
                    issuedAt: now,
                    header: ["alg": "none"]
                )
                return String(proof[...proof.lastIndex(of: ".")!])
            }
            #expect(none?.description == "DPoP proof algorithm 'none' is not allowed")
            let hmac = await Self.refusal(h) { key, token, now in
                key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now, header: ["alg": "HS256"])
            }
            #expect(hmac?.description == "DPoP proof algorithm 'HS256' is not allowed")
            let narrow = h.authenticator { $0.dpop.algorithms = ["ES256"] }
            let key = DPoPTestKey(.es384)
            let token = Self.bound(h, key)
            let f = await Self.authenticate(
                narrow,
                token,
                [key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)]
            )
            #expect(f?.description == "DPoP proof algorithm 'ES384' is not allowed")
            #expect(f?.wwwAuthenticate.hasSuffix(#"algs="ES256""#) == true)
        }
    }

    @Test("The jwk must be present, a usable public key, and hold no private member")
    func jwk() async throws {
        try await withHarness { h in
            let missing = await Self.refusal(h) { key, token, now in
                key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now, header: ["jwk": .null])
            }
            #expect(missing?.description == "DPoP proof 'jwk' is missing or not a usable public key")
            let wrongCurve = await Self.refusal(h) { key, token, now in
                var jwk = key.publicJWK
                jwk["crv"] = "P-384"
                return key.proof(
                    method: "GET",
                    url: Self.url,
                    accessToken: token,
                    issuedAt: now,
                    header: ["jwk": .object(jwk)]
                )
            }
            #expect(wrongCurve?.description == "DPoP proof 'jwk' is missing or not a usable public key")
            let privateKey = await Self.refusal(h) { key, token, now in
                key.proof(
                    method: "GET",
                    url: Self.url,
                    accessToken: token,
                    issuedAt: now,
                    header: ["jwk": .object(key.privateJWK)]
                )
            }
            #expect(privateKey?.description == "DPoP proof 'jwk' must not hold a private key")
        }
    }

    @Test("The proof's key must be the key the token is bound to (RFC 7638 thumbprint equals cnf.jkt)")
    func thumbprint() async throws {
        try await withHarness { h in
            let f = await Self.refusal(h, key: DPoPTestKey(), boundTo: DPoPTestKey()) { key, token, now in
                key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now)
            }
            #expect(f?.reason == .dpopKeyMismatch)
            #expect(
                f?.wwwAuthenticate == Self.proofChallenge(DPoPFailureDescription.keyMismatch, code: "invalid_token")
            )
        }
    }

    @Test("RFC 7638's own example key has the RFC's thumbprint")
    func thumbprintVector() {
        let n =
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWK"
            + "RXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
            + "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
            + "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let jwk: [String: JSONClaimValue] = [
            "kty": "RSA", "n": .string(n), "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        ]
        #expect(DPoPProofVerifier.thumbprint(of: jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test("A proof whose signature does not verify is refused")
    func signature() async throws {
        try await withHarness { h in
            let f = await Self.refusal(h) { key, token, now in
                let proof = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now)
                let other = key.proof(method: "POST", url: Self.url, accessToken: token, issuedAt: now)
                let parts = proof.split(separator: ".")
                return parts[0] + "." + other.split(separator: ".")[1] + "." + parts[2]
            }
            #expect(f?.description == "Invalid DPoP proof signature")
        }
    }

    @Test("htm must be the request's method")
    func method() async throws {
        try await withHarness { h in
            let f = await Self.refusal(h) { key, token, now in
                key.proof(method: "POST", url: Self.url, accessToken: token, issuedAt: now)
            }
            #expect(f?.description == "DPoP proof 'htm' does not match the request method")
        }
    }

    @Test("htu must be the request's URL; query and fragment are ignored and RFC 3986 normalisation applies")
    func url() async throws {
        try await withHarness { h in
            let other = await Self.refusal(h) { key, token, now in
                key.proof(method: "GET", url: "https://api.example.com/approvals", accessToken: token, issuedAt: now)
            }
            #expect(other?.description == "DPoP proof 'htu' does not match the request URL")
            let otherHost = await Self.refusal(h) { key, token, now in
                key.proof(method: "GET", url: "https://evil.example.com/timesheets", accessToken: token, issuedAt: now)
            }
            #expect(otherHost?.description == "DPoP proof 'htu' does not match the request URL")
            let noURL = await Self.refusal(h, request: DPoPRequest(method: "GET", url: nil)) { key, token, now in
                key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now)
            }
            #expect(noURL?.description == "DPoP proof 'htu' does not match the request URL")
            for equivalent in [
                "https://api.example.com/timesheets?from=2024-01-01#top", "HTTPS://API.Example.COM:443/timesheets",
                "https://api.example.com/x/../timesheets", "https://api.example.com/%74imesheets",
            ] {
                let key = DPoPTestKey()
                let token = Self.bound(h, key)
                let proof = key.proof(method: "GET", url: equivalent, accessToken: token, issuedAt: h.clock.now)
                let principal = try await h.auth.checkedAuthenticate(
                    Self.fields(token, proofs: [proof]),
                    request: Self.request
                )
                #expect(principal.subject == "auth0|user-1", "\(equivalent)")
            }
        }
    }

    @Test("URL normalisation per RFC 3986 section 6.2.2")
    func normalisation() {
        #expect(DPoPURL.normalized("HTTP://Example.COM:80") == "http://example.com/")
        #expect(DPoPURL.normalized("https://example.com:8443/a/./b/../c?q#f") == "https://example.com:8443/a/c")
        #expect(DPoPURL.normalized("https://example.com/%7euser/%2f") == "https://example.com/~user/%2F")
        #expect(DPoPURL.normalized("https://[::1]:8080/x") == "https://[::1]:8080/x")
        #expect(DPoPURL.normalized("https://user@example.com/") == nil)
        #expect(DPoPURL.normalized("ftp://example.com/") == nil)
        #expect(DPoPURL.normalized("https://example.com/%zz") == nil)
        #expect(DPoPURL.normalized("/timesheets") == nil)
    }

    @Test("iat must be within the window plus the clock tolerance, and not in the future beyond the tolerance")
    func issuedAt() async throws {
        try await withHarness { h in
            // The default window is 60 s and the tolerance 5 s.
            let old = await Self.refusal(h) { key, token, now in
                key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now.addingTimeInterval(-66))
            }
            #expect(old?.description == "DPoP proof 'iat' is outside the accepted window")
            let future = await Self.refusal(h) { key, token, now in
                key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now.addingTimeInterval(6))
            }
            #expect(future?.description == "DPoP proof 'iat' is outside the accepted window")
            let key = DPoPTestKey()
            let token = Self.bound(h, key)
            let edge = key.proof(
                method: "GET",
                url: Self.url,
                accessToken: token,
                issuedAt: h.clock.now.addingTimeInterval(-64)
            )
            _ = try await h.auth.checkedAuthenticate(Self.fields(token, proofs: [edge]), request: Self.request)
            let narrow = h.authenticator { $0.dpop.issuedAtWindow = .seconds(10) }
            let f = await Self.authenticate(
                narrow,
                token,
                [
                    key.proof(
                        method: "GET",
                        url: Self.url,
                        accessToken: token,
                        issuedAt: h.clock.now.addingTimeInterval(-20)
                    )
                ]
            )
            #expect(f?.description == "DPoP proof 'iat' is outside the accepted window")
        }
    }

    @Test("ath must be the hash of the access token sent with the proof")
    func accessTokenHash() async throws {
        try await withHarness { h in
            let other = await Self.refusal(h) { key, _, now in
                key.proof(method: "GET", url: Self.url, accessToken: "another-token", issuedAt: now)
            }
            #expect(other?.description == "DPoP proof 'ath' does not match the access token")
            let missing = await Self.refusal(h) { key, _, now in
                key.proof(method: "GET", url: Self.url, accessToken: nil, issuedAt: now)
            }
            #expect(missing?.description == "Missing DPoP proof 'ath' claim")
        }
    }

    @Test("jti, htm, htu and iat are required and typed")
    func requiredClaims() async throws {
        try await withHarness { h in
            for name in ["jti", "htm", "htu", "iat"] {
                let missing = await Self.refusal(h) { key, token, now in
                    key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: now, claims: [name: .null])
                }
                #expect(missing?.description == "Missing DPoP proof '\(name)' claim")
                let wrongType = await Self.refusal(h) { key, token, now in
                    key.proof(
                        method: "GET",
                        url: Self.url,
                        accessToken: token,
                        issuedAt: now,
                        claims: [name: .array([])]
                    )
                }
                #expect(wrongType?.description == "Invalid DPoP proof '\(name)' claim")
            }
        }
    }

    @Test("A proof is accepted once: its jti replayed is refused, also by another authenticator sharing the store")
    func replay() async throws {
        try await withHarness { h in
            let key = DPoPTestKey()
            let token = Self.bound(h, key)
            let proof = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
            _ = try await h.auth.checkedAuthenticate(Self.fields(token, proofs: [proof]), request: Self.request)
            let again = await Self.authenticate(h.auth, token, [proof])
            #expect(again?.reason == .dpopProofReplayed)
            #expect(again?.wwwAuthenticate == Self.proofChallenge("DPoP proof already used"))

            let shared = InMemoryDPoPReplayStore()
            let first = BearerAuthenticator(
                configuration: h.configuration,
                httpClient: .shared,
                logger: Fixture.logger,
                clock: h.clock.authClock,
                replayStore: shared
            )
            let second = BearerAuthenticator(
                configuration: h.configuration,
                httpClient: .shared,
                logger: Fixture.logger,
                clock: h.clock.authClock,
                replayStore: shared
            )
            let fresh = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
            _ = try await first.checkedAuthenticate(Self.fields(token, proofs: [fresh]), request: Self.request)
            #expect(await Self.authenticate(second, token, [fresh])?.reason == .dpopProofReplayed)
            // A new jti from the same key is a new proof.
            let next = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
            _ = try await second.checkedAuthenticate(Self.fields(token, proofs: [next]), request: Self.request)
        }
    }

    @Test("The in-memory replay store forgets expired keys and refuses when full of live ones")
    func inMemoryStore() async throws {
        let store = InMemoryDPoPReplayStore(capacity: 2)
        let now = Date(timeIntervalSince1970: 1_000)
        #expect(try await store.recordFirstUse(of: "a", expiresAt: now.addingTimeInterval(10), now: now))
        #expect(try await !store.recordFirstUse(of: "a", expiresAt: now.addingTimeInterval(10), now: now))
        #expect(try await store.recordFirstUse(of: "b", expiresAt: now.addingTimeInterval(10), now: now))
        await #expect(throws: InMemoryDPoPReplayStore.Full.self) {
            try await store.recordFirstUse(of: "c", expiresAt: now.addingTimeInterval(10), now: now)
        }
        let later = now.addingTimeInterval(11)
        #expect(try await store.recordFirstUse(of: "c", expiresAt: later.addingTimeInterval(10), now: later))
        #expect(store.count == 1)
        #expect(try await store.recordFirstUse(of: "a", expiresAt: later.addingTimeInterval(10), now: later))
    }

    @Test("No proof, or two proofs, with the DPoP scheme")
    func proofCount() async throws {
        try await withHarness { h in
            let key = DPoPTestKey()
            let token = Self.bound(h, key)
            let missing = await Self.authenticate(h.auth, token, [])
            #expect(missing?.wwwAuthenticate == Self.proofChallenge("Missing DPoP proof"))
            let one = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
            let two = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
            let both = await Self.authenticate(h.auth, token, [one, two])
            #expect(both?.description == "More than one DPoP proof")
            let malformed = await Self.authenticate(h.auth, token, ["not-a-jwt"])
            #expect(malformed?.description == "Malformed DPoP proof")
        }
    }

    @Test("A bound token is never accepted as a Bearer token; an unbound one is refused with the DPoP scheme")
    func binding() async throws {
        try await withHarness { h in
            let key = DPoPTestKey()
            let token = Self.bound(h, key)
            let asBearer = await failure { () async throws(AuthFailure) in
                try await h.auth.authenticate(bearer(token), request: Self.request)
            }
            #expect(asBearer?.reason == .dpopBoundTokenAsBearer)
            #expect(
                asBearer?.wwwAuthenticate
                    == Self.proofChallenge("DPoP-bound token must be sent with the DPoP scheme", code: "invalid_token")
            )
            let unbound = h.token()
            let f = await Self.authenticate(
                h.auth,
                unbound,
                [key.proof(method: "GET", url: Self.url, accessToken: unbound, issuedAt: h.clock.now)]
            )
            #expect(f?.reason == .tokenNotDPoPBound)
            // A token failing its own checks under the DPoP scheme gets a DPoP challenge.
            let expired = h.token(["cnf": ["jkt": .string(key.thumbprint)]], lifetime: .seconds(-60))
            let g = await Self.authenticate(
                h.auth,
                expired,
                [key.proof(method: "GET", url: Self.url, accessToken: expired, issuedAt: h.clock.now)]
            )
            #expect(g?.wwwAuthenticate == Self.proofChallenge("Token expired", code: "invalid_token"))
        }
    }

    @Test("required refuses Bearer tokens and challenges with DPoP; off does not understand the DPoP scheme")
    func modes() async throws {
        try await withHarness { h in
            let required = h.authenticator { $0.dpop.mode = .required }
            let bearerFailure = await failure { () async throws(AuthFailure) in
                try await required.authenticate(bearer(h.token()), request: Self.request)
            }
            #expect(bearerFailure?.reason == .dpopRequired)
            let none = await failure { () async throws(AuthFailure) in
                try await required.authenticate([:], request: Self.request)
            }
            #expect(none?.wwwAuthenticate == #"DPoP realm="api", algs="\#(Self.algs)""#)
            let key = DPoPTestKey()
            let token = Self.bound(h, key)
            let proof = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)
            _ = try await required.checkedAuthenticate(Self.fields(token, proofs: [proof]), request: Self.request)

            let off = h.authenticator { $0.dpop.mode = .off }
            let dpopScheme = await Self.authenticate(off, token, [proof])
            #expect(dpopScheme?.reason == .unsupportedScheme)
            #expect(dpopScheme?.wwwAuthenticate == #"Bearer realm="api""#)
            // Allowed (the default) keeps the plain Bearer challenge for requests without credentials.
            let plain = await failure { () async throws(AuthFailure) in try await h.auth.authenticate([:]) }
            #expect(plain?.wwwAuthenticate == #"Bearer realm="api""#)
        }
    }

    @Test("Nonces: a proof without one gets use_dpop_nonce and a DPoP-Nonce; with it, it passes; others are refused")
    func nonces() async throws {
        try await withHarness { h in
            let secret = Array("a nonce secret of at least 32 bytes!".utf8)
            let auth = h.authenticator { $0.dpop.nonceSecret = secret }
            let key = DPoPTestKey()
            let token = Self.bound(h, key)
            let first = await Self.authenticate(
                auth,
                token,
                [key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now)]
            )
            #expect(first?.reason == .dpopNonceRequired)
            #expect(
                first?.wwwAuthenticate
                    == Self.proofChallenge("Resource server requires nonce in DPoP proof", code: "use_dpop_nonce")
            )
            let nonce = try #require(first?.dpopNonce)
            let withNonce = key.proof(
                method: "GET",
                url: Self.url,
                accessToken: token,
                issuedAt: h.clock.now,
                nonce: nonce
            )
            _ = try await auth.checkedAuthenticate(Self.fields(token, proofs: [withNonce]), request: Self.request)

            // Another replica with the same secret accepts it; one with another secret does not.
            let replica = h.authenticator { $0.dpop.nonceSecret = secret }
            let again = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now, nonce: nonce)
            _ = try await replica.checkedAuthenticate(Self.fields(token, proofs: [again]), request: Self.request)
            let stranger = h.authenticator { $0.dpop.nonceSecret = Array("another secret, also 32 bytes long".utf8) }
            let foreign = key.proof(
                method: "GET",
                url: Self.url,
                accessToken: token,
                issuedAt: h.clock.now,
                nonce: nonce
            )
            #expect(await Self.authenticate(stranger, token, [foreign])?.reason == .dpopNonceRequired)
            let forged = key.proof(
                method: "GET",
                url: Self.url,
                accessToken: token,
                issuedAt: h.clock.now,
                nonce: "AAAA"
            )
            #expect(await Self.authenticate(auth, token, [forged])?.reason == .dpopNonceRequired)
            // A nonce past its lifetime (5 min plus the tolerance) is stale.
            h.clock.advance(by: .seconds(306))
            let stale = key.proof(method: "GET", url: Self.url, accessToken: token, issuedAt: h.clock.now, nonce: nonce)
            let f = await Self.authenticate(auth, token, [stale])
            #expect(f?.reason == .dpopNonceRequired)
            #expect(f?.dpopNonce != nil && f?.dpopNonce != nonce)
        }
    }
}
