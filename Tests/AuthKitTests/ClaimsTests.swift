import AuthKit
import AuthKitTesting
import Foundation
import Testing

@Suite("Claims")
struct ClaimsTests {
    @Test("Expired token: 401 'Token expired'; within the clock tolerance it passes")
    func expired() async throws {
        try await withHarness { h in
            let token = h.token(lifetime: .seconds(60))
            h.clock.advance(by: .seconds(63))  // 3 s past exp, inside the 5 s tolerance
            let checked1 = try await h.auth.checked(token)
            #expect(checked1.subject == "auth0|user-1")
            h.clock.advance(by: .seconds(3))  // 6 s past exp
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(f?.status == 401)
            #expect(f?.reason == .expired)
            #expect(
                f?.wwwAuthenticate == #"Bearer realm="api", error="invalid_token", error_description="Token expired""#
            )
        }
    }

    @Test("Not yet valid (nbf) and issued in the future (iat)")
    func notYetValid() async throws {
        try await withHarness { h in
            let now = h.clock.now.timeIntervalSince1970.rounded(.down)
            let early = h.token(["nbf": .number(now + 60)])
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: early) }
            #expect(f?.reason == .notYetValid)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Token not yet valid"))
            let future = h.token(["iat": .number(now + 60)])
            let g = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: future) }
            #expect(g?.reason == .issuedInFuture)
            h.clock.advance(by: .seconds(57))
            let checked2 = try await h.auth.checked(early)
            #expect(checked2.subject == "auth0|user-1")
        }
    }

    @Test("Missing exp, and exp of the wrong type, are invalid tokens")
    func malformedExp() async throws {
        try await withHarness { h in
            let noExp = h.issuer.mint(h.claims().filter { $0.key != "exp" })
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: noExp) }
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Missing 'exp' claim"))
            let stringExp = h.token(["exp": "tomorrow"])
            let g = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: stringExp) }
            #expect(g?.reason == .malformedClaims)
            #expect(g?.wwwAuthenticate == Fixture.invalidToken("Invalid 'exp' claim"))
        }
    }

    @Test("A correctly signed token with a duplicated claim is malformed, whichever copy would have won")
    func duplicatedClaim() async throws {
        try await withHarness { h in
            let claims = JSONClaimValue.object(h.claims()).jsonString
            // The same object with a second `sub` appended: a parser that keeps the last copy would see an admin.
            let duplicated = String(claims.dropLast()) + #","sub":"auth0|admin"}"#
            let token = h.issuer.mint(payloadJSON: duplicated)
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(f?.reason == .malformedToken)
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Malformed token"))
            // The same bytes without the duplicate verify, so the refusal is about the duplicate alone.
            let checked = try await h.auth.checked(h.issuer.mint(payloadJSON: claims))
            #expect(checked.subject == "auth0|user-1")
            // Many members (the set-based duplicate check) behave the same.
            var many = h.claims()
            for index in 0..<40 { many["x-\(index)"] = .number(Double(index)) }
            let manyJSON = JSONClaimValue.object(many).jsonString
            let manyChecked = try await h.auth.checked(h.issuer.mint(payloadJSON: manyJSON))
            #expect(manyChecked.claim("x-39") == .number(39))
            #expect(manyChecked.claims.count == many.count)
            let manyDuplicated = String(manyJSON.dropLast()) + #","x-7":1}"#
            let g = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.issuer.mint(payloadJSON: manyDuplicated))
            }
            #expect(g?.reason == .malformedToken)
        }
    }

    @Test("Principals of the same claims in another order are equal and hash alike")
    func claimOrder() async throws {
        try await withHarness { h in
            let claims = h.claims(["https://api.exampleco.com/email": "ada@exampleco.com"])
            let sorted = JSONClaimValue.object(claims).jsonString  // keys sorted
            let reversed =
                "{"
                + claims.keys.sorted().reversed()
                .map { JSONClaimValue.string($0).jsonString + ":" + claims[$0]!.jsonString }
                .joined(separator: ",") + "}"
            #expect(sorted != reversed)
            let first = try await h.auth.checked(h.issuer.mint(payloadJSON: sorted))
            let second = try await h.auth.checked(h.issuer.mint(payloadJSON: reversed))
            #expect(first == second)
            #expect(first.hashValue == second.hashValue)
            #expect(Set([first, second]).count == 1)
            #expect(first.claims == claims)
        }
    }

    @Test("Wrong issuer is rejected; exactly one trailing slash of difference is tolerated")
    func issuer() async throws {
        try await withHarness { h in
            let configured = h.server.issuerURL  // ends with "/"
            let withoutSlash = String(configured.dropLast())
            let checked3 = try await h.auth.checked(h.token(["iss": .string(withoutSlash)]))
            #expect(checked3.subject == "auth0|user-1")
            for wrong in [configured + "/", "https://evil.example/", withoutSlash.uppercased(), configured + "x"] {
                let f = await failure { () async throws(AuthFailure) in
                    try await h.auth.verify(token: h.token(["iss": .string(wrong)]))
                }
                #expect(f?.reason == .wrongIssuer, "\(wrong)")
                #expect(
                    f?.wwwAuthenticate
                        == #"Bearer realm="api", error="invalid_token", error_description="Unexpected 'iss' value""#
                )
            }
            // Configured without the slash, a token with it passes.
            let bare = h.authenticator { $0.issuer = withoutSlash }
            let checked4 = try await bare.checked(h.token())
            #expect(checked4.subject == "auth0|user-1")
            let twoSlashes = await failure { () async throws(AuthFailure) in
                try await bare.verify(token: h.token(["iss": .string(withoutSlash + "//")]))
            }
            #expect(twoSlashes?.reason == .wrongIssuer)
        }
    }

    @Test("Audience: wrong, missing, empty array, array containing ours, several configured")
    func audience() async throws {
        try await withHarness { h in
            let wrong = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(["aud": "https://other.api"]))
            }
            #expect(wrong?.status == 401)
            #expect(wrong?.reason == .wrongAudience)
            #expect(
                wrong?.wwwAuthenticate
                    == #"Bearer realm="api", error="invalid_token", error_description="Unexpected 'aud' value""#
            )

            let missing = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.issuer.mint(h.claims().filter { $0.key != "aud" }))
            }
            #expect(missing?.wwwAuthenticate == Fixture.invalidToken("Missing 'aud' claim"))

            let empty = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(["aud": []]))
            }
            #expect(empty?.reason == .malformedClaims)
            #expect(empty?.wwwAuthenticate == Fixture.invalidToken("Invalid 'aud' claim"))

            let array = h.token(["aud": ["https://tenant.auth0.com/userinfo", .string(Fixture.audience)]])
            let checked5 = try await h.auth.checked(array)
            #expect(checked5.subject == "auth0|user-1")

            let arrayWithoutOurs = h.token(["aud": ["https://a", "https://b"]])
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: arrayWithoutOurs) }
            #expect(f?.reason == .wrongAudience)

            let several = h.authenticator { $0.audiences = ["https://a", "https://b"] }
            let checked6 = try await several.checked(arrayWithoutOurs)
            #expect(checked6.subject == "auth0|user-1")
        }
    }

    @Test("Maximum token age")
    func maximumAge() async throws {
        try await withHarness { h in
            let auth = h.authenticator { $0.maximumTokenAge = .seconds(600) }
            let token = h.token()
            let checked7 = try await auth.checked(token)
            #expect(checked7.subject == "auth0|user-1")
            h.clock.advance(by: .seconds(606))
            let f = await failure { () async throws(AuthFailure) in try await auth.verify(token: token) }
            #expect(f?.reason == .tooOld)
        }
    }

    @Test("Strict RFC 9068 mode requires typ at+jwt, client_id, jti, iat")
    func rfc9068() async throws {
        try await withHarness { h in
            let strict = h.authenticator { $0.requireRFC9068 = true }
            let good = h.token(["client_id": "c1", "jti": "j1"], header: ["typ": "at+jwt"])
            let checked8 = try await strict.checked(good)
            #expect(checked8.clientID == "test-client")
            let plainJWT = h.token(["client_id": "c1", "jti": "j1"])
            let f = await failure { () async throws(AuthFailure) in try await strict.verify(token: plainJWT) }
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Unexpected 'typ' header"))
            let noJTI = h.token(["client_id": "c1"], header: ["typ": "application/at+jwt"])
            let g = await failure { () async throws(AuthFailure) in try await strict.verify(token: noJTI) }
            #expect(g?.wwwAuthenticate == Fixture.invalidToken("Missing 'jti' claim"))
            // The default mode does not care.
            let checked9 = try await h.auth.checked(plainJWT)
            #expect(checked9.subject == "auth0|user-1")
        }
    }

    @Test("M2M tokens are detected by gty or an @clients subject")
    func machineTokens() async throws {
        try await withHarness { h in
            let gty = try await h.auth.verify(token: h.token(["gty": "client-credentials", "sub": "svc"]))
            #expect(gty.isMachine)
            let clients = try await h.auth.verify(token: h.token(["sub": "abc123@clients"]))
            #expect(clients.isMachine)
            #expect(clients.subject == "abc123@clients")
            let user = try await h.auth.verify(token: h.token(["gty": "password"]))
            #expect(!user.isMachine)
        }
    }

    @Test("A namespaced custom claim can identify the user and is readable")
    func customUserClaim() async throws {
        try await withHarness { h in
            let claim = "https://api.exampleco.com/email"
            let auth = h.authenticator { $0.userIDClaim = claim }
            let principal = try await auth.verify(
                token: h.token([claim: "ada@example.com", "https://api.exampleco.com/roles": ["admin"]])
            )
            #expect(principal.userID == "ada@example.com")
            #expect(principal.subject == "auth0|user-1")
            #expect(principal.claim("https://api.exampleco.com/roles") == ["admin"])
            let f = await failure { () async throws(AuthFailure) in try await auth.verify(token: h.token()) }
            #expect(f?.wwwAuthenticate == Fixture.invalidToken("Missing 'https://api.exampleco.com/email' claim"))
        }
    }

    @Test("A machine token without the user-id claim is identified by its sub; a user token without it is refused")
    func machineTokenUnderCustomUserClaim() async throws {
        try await withHarness { h in
            let claim = "https://api.exampleco.com/email"
            let auth = h.authenticator { $0.userIDClaim = claim }
            // Auth0's client-credentials token: no user claims at all.
            let byGrant = try await auth.verify(
                token: h.token(["sub": "batch-client@clients", "gty": "client-credentials", "scope": "batch:upload"])
            )
            #expect(byGrant.isMachine)
            #expect(byGrant.userID == "batch-client@clients")
            #expect(byGrant.scopes == ["batch:upload"])
            // Auth0's form without gty: the sub is the token's own client id with @clients.
            let bySubject = try await auth.verify(token: h.token(["sub": "abc123@clients", "azp": "abc123"]))
            #expect(bySubject.userID == "abc123@clients")
            // A user token whose sub merely ends in @clients (another client's id) gets no fallback.
            let lookalike = await failure { () async throws(AuthFailure) in
                try await auth.verify(token: h.token(["sub": "batch-client@clients", "azp": "test-client"]))
            }
            #expect(
                lookalike?.wwwAuthenticate == Fixture.invalidToken("Missing 'https://api.exampleco.com/email' claim")
            )
            // A machine token that does carry the claim is identified by it.
            let withClaim = try await auth.verify(
                token: h.token(["sub": "svc@clients", "azp": "svc", claim: "robot@example.com"])
            )
            #expect(withClaim.userID == "robot@example.com")
            // A malformed claim is still refused, machine or not.
            let malformed = await failure { () async throws(AuthFailure) in
                try await auth.verify(token: h.token(["sub": "svc@clients", "azp": "svc", claim: ["a", "b"]]))
            }
            #expect(
                malformed?.wwwAuthenticate == Fixture.invalidToken("Invalid 'https://api.exampleco.com/email' claim")
            )
            // A user's token (no machine marker) without the claim is still 401.
            let user = await failure { () async throws(AuthFailure) in
                try await auth.verify(token: h.token(["gty": "password"]))
            }
            #expect(user?.status == 401)
            #expect(user?.wwwAuthenticate == Fixture.invalidToken("Missing 'https://api.exampleco.com/email' claim"))
        }
    }

    @Test("Revocation hook and extra claim checks")
    func hooks() async throws {
        try await withHarness { h in
            let auth = h.authenticator(
                { _ in },
                isRevoked: { _, tokenID in tokenID == "revoked-1" },
                claimChecks: [{ $0.claim("org_id") == "evil" ? "Organisation \"evil\" is blocked" : nil }]
            )
            let checked10 = try await auth.checked(h.token(["jti": "fine-1"]))
            #expect(checked10.tokenID == "fine-1")
            let revoked = await failure { () async throws(AuthFailure) in
                try await auth.verify(token: h.token(["jti": "revoked-1"]))
            }
            #expect(revoked?.reason == .revoked)
            #expect(revoked?.wwwAuthenticate == Fixture.invalidToken("Token revoked"))
            let blocked = await failure { () async throws(AuthFailure) in
                try await auth.verify(token: h.token(["org_id": "evil"]))
            }
            #expect(blocked?.reason == .claimCheckFailed)
            // Quotes in a description are escaped as quoted-pairs.
            #expect(
                blocked?.wwwAuthenticate
                    == #"Bearer realm="api", error="invalid_token", "#
                    + #"error_description="Organisation \"evil\" is blocked""#
            )
        }
    }
}
