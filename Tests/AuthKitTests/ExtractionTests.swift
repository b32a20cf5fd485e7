import AuthKit
import AuthKitTesting
import HTTPTypes
import Testing

@Suite("Credential extraction")
struct ExtractionTests {
    @Test("No Authorization header: 401 with a bare challenge")
    func missingHeader() async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in try await h.auth.authenticate([:]) }
            #expect(f?.status == 401)
            #expect(f?.code == nil)
            #expect(f?.description == nil)
            #expect(f?.reason == .missingCredentials)
            #expect(f?.wwwAuthenticate == #"Bearer realm="api""#)
            #expect(h.server.jwksRequestCount == 0)
        }
    }

    @Test("Another scheme: 401 with a bare challenge, reason unsupportedScheme")
    func otherScheme() async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.authenticate([.authorization: "Basic dXNlcjpwYXNz"])
            }
            #expect(f?.status == 401)
            #expect(f?.code == nil)
            #expect(f?.reason == .unsupportedScheme)
            #expect(f?.wwwAuthenticate == #"Bearer realm="api""#)
            // Schemes that only resemble Bearer are other schemes, not malformed Bearer headers.
            // (`DPoP abc` is a DPoP token unless DPoP is off: see DPoPTests.)
            for value in ["Bearerx abc", "Bear3r abc", "Bearer_ abc", "Token", "DPoPx abc"] {
                let g = await failure { () async throws(AuthFailure) in
                    try await h.auth.authenticate([.authorization: value])
                }
                #expect(g?.reason == .unsupportedScheme, "\(value)")
            }
        }
    }

    @Test(
        "Malformed Authorization header: 400 invalid_request",
        arguments: ["Bearer", "Bearer ", "bearer    ", "Bearer a b", "Bearer abc\"def", "Bearer ==abc", ""]
    )
    func malformed(value: String) async throws {
        try await withHarness { h in
            let f = await failure { () async throws(AuthFailure) in
                try await h.auth.authenticate([.authorization: value])
            }
            #expect(f?.status == 400)
            #expect(f?.code == "invalid_request")
            #expect(f?.reason == .malformedHeader)
            #expect(
                f?.wwwAuthenticate
                    == #"Bearer realm="api", error="invalid_request", "#
                    + #"error_description="Malformed Authorization header""#
            )
        }
    }

    @Test("Two Authorization headers: 400 invalid_request")
    func twoHeaders() async throws {
        try await withHarness { h in
            var fields = HTTPFields()
            fields.append(HTTPField(name: .authorization, value: "Bearer \(h.token())"))
            fields.append(HTTPField(name: .authorization, value: "Bearer \(h.token())"))
            let f = await failure { () async throws(AuthFailure) in try await h.auth.authenticate(fields) }
            #expect(f?.status == 400)
            #expect(f?.reason == .multipleCredentials)
        }
    }

    @Test("Scheme is case-insensitive and surrounding whitespace is tolerated")
    func lenientScheme() async throws {
        try await withHarness { h in
            let token = h.token()
            for value in [
                "bearer \(token)", "BEARER \(token)", "  Bearer   \(token)  ", "Bearer\t\(token)",
                "\tBeArEr \t \(token)\t ",
            ] {
                let principal = try await h.auth.authenticate([.authorization: value])
                #expect(principal.subject == "auth0|user-1")
            }
        }
    }

    @Test("Query-string tokens are ignored by default and accepted when enabled")
    func queryToken() async throws {
        try await withHarness { h in
            let token = h.token()
            let off = await failure { () async throws(AuthFailure) in
                try await h.auth.authenticate([:], query: "a=1&access_token=\(token)")
            }
            #expect(off?.reason == .missingCredentials)

            let on = h.authenticator { $0.allowQueryToken = true }
            let principal = try await on.authenticate([:], query: "a=1&access_token=\(token)")
            #expect(principal.subject == "auth0|user-1")

            let both = await failure { () async throws(AuthFailure) in
                try await on.authenticate(bearer(token), query: "access_token=\(token)")
            }
            #expect(both?.status == 400)
            #expect(both?.reason == .multipleCredentials)
        }
    }

    @Test("Cookie tokens only when a cookie name is configured")
    func cookieToken() async throws {
        try await withHarness { h in
            let token = h.token()
            let fields: HTTPFields = [.cookie: "theme=dark; at=\(token)"]
            let off = await failure { () async throws(AuthFailure) in try await h.auth.authenticate(fields) }
            #expect(off?.reason == .missingCredentials)
            let on = h.authenticator { $0.tokenCookieName = "at" }
            let checked1 = try await on.checkedAuthenticate(fields)
            #expect(checked1.subject == "auth0|user-1")
        }
    }
}
