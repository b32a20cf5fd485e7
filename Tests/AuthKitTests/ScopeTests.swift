import AuthKit
import AuthKitTesting
import HTTPTypes
import Testing

@Suite("Scopes and permissions")
struct ScopeTests {
    @Test("The scope string and the permissions array are both read")
    func scopeAndPermissions() async throws {
        try await withHarness { h in
            let principal = try await h.auth.verify(
                token: h.token([
                    "scope": "openid  read:timesheets", "permissions": ["write:timesheets", "approve:timesheets"],
                ])
            )
            #expect(principal.scopes == ["openid", "read:timesheets", "write:timesheets", "approve:timesheets"])
            let arrayScope = try await h.auth.verify(token: h.token(["scope": ["a", "b"]]))
            #expect(arrayScope.scopes == ["a", "b"])

            let permissionsOnly = h.authenticator { $0.scopeClaims = ["permissions"] }
            let p = try await permissionsOnly.verify(token: h.token(["scope": "read:x", "permissions": ["write:x"]]))
            #expect(p.scopes == ["write:x"])

            let badType = await failure { () async throws(AuthFailure) in
                try await h.auth.verify(token: h.token(["permissions": 7]))
            }
            #expect(badType?.wwwAuthenticate == Fixture.invalidToken("Invalid 'permissions' claim"))
        }
    }

    @Test("all-of and any-of requirements; 403 insufficient_scope with the required scopes")
    func requirements() async throws {
        try await withHarness { h in
            let principal = try await h.auth.verify(
                token: h.token(["scope": "read:timesheets", "permissions": ["write:timesheets"]])
            )
            try h.auth.authorize(principal, .all(["read:timesheets", "write:timesheets"]))
            try h.auth.authorize(principal, .any(["approve:timesheets", "write:timesheets"]))
            try h.auth.authorize(principal, .all([]))

            do throws(AuthFailure) {
                try h.auth.authorize(principal, .all(["write:timesheets", "approve:timesheets"]))
                Issue.record("all-of should have failed")
            } catch {
                #expect(error.status == 403)
                #expect(error.code == "insufficient_scope")
                #expect(error.reason == .insufficientScope)
                #expect(
                    error.wwwAuthenticate
                        == #"Bearer realm="api", error="insufficient_scope", error_description="Insufficient scope", "#
                        + #"scope="approve:timesheets write:timesheets""#
                )
            }
            do throws(AuthFailure) {
                try h.auth.authorize(principal, .any(["approve:timesheets", "admin"]))
                Issue.record("any-of should have failed")
            } catch {
                #expect(error.status == 403)
                #expect(error.requiredScope == "admin approve:timesheets")
            }
        }
    }

    @Test("The realm is configurable and escaped")
    func realm() async throws {
        let configure: (inout AuthConfiguration) -> Void = { $0.realm = #"time"sheets"# }
        try await withHarness(configure: configure) { h in
            let f = await failure { () async throws(AuthFailure) in try await h.auth.authenticate([:]) }
            #expect(f?.wwwAuthenticate == #"Bearer realm="time\"sheets""#)
        }
    }
}
