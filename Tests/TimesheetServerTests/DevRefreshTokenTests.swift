import AuthKit
import AuthKitTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import TimesheetAPI
@testable import TimesheetDevTools

/// The dev identity provider's refresh tokens: asked for with offline_access, one-time, rotated, and a replay revokes
/// the family.
@Suite struct DevRefreshTokenTests {
    static let redirect = "http://127.0.0.1:8080/"
    static let verifier = "verifier-" + String(repeating: "v", count: 40)

    func withProvider(
        lifetime: Duration = .seconds(30),
        _ body: @Sendable (DevIdentityProvider, any TestClientProtocol) async throws -> Void
    ) async throws {
        let provider = DevIdentityProvider(
            minter: DevTokenMinter(
                issuer: try APIHarness.sharedIssuer.get(),
                issuerURL: "http://127.0.0.1:8080/dev-idp/",
                audience: apiAudience
            ),
            port: 8080,
            machineClientSecret: "secret",
            webTokenLifetime: lifetime
        )
        let router = Router(context: AppRequestContext.self)
        provider.addRoutes(to: router)
        let app = Application(router: router, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.router) { client in try await body(provider, client) }
    }

    static func form(_ fields: [String: String]) -> ByteBuffer { ByteBuffer(string: DevModeTests.form(fields)) }

    /// Logs in as `user` with `scope` and returns the token endpoint's answer.
    func login(
        _ client: any TestClientProtocol,
        scope: String,
        user: String = "employee",
        key: DPoPTestKey? = nil
    ) async throws -> [String: Any] {
        let authorize = [
            "response_type": "code", "client_id": "timesheets-web", "redirect_uri": Self.redirect, "state": "s",
            "code_challenge": DevModeTests.challenge(Self.verifier), "code_challenge_method": "S256", "scope": scope,
            "user": user,
        ]
        let location = try await client.execute(
            uri: "/dev-idp/authorize",
            method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"],
            body: Self.form(authorize)
        ) { response in
            #expect(response.status == .found)
            return response.headers[.location] ?? ""
        }
        let code = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        return try await token(
            client,
            [
                "grant_type": "authorization_code", "client_id": "timesheets-web", "code": code,
                "code_verifier": Self.verifier, "redirect_uri": Self.redirect,
            ],
            key: key
        ).json
    }

    func token(
        _ client: any TestClientProtocol,
        _ fields: [String: String],
        key: DPoPTestKey? = nil
    ) async throws -> (
        status: HTTPResponse.Status, json: [String: Any]
    ) {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let key { headers[HTTPField.Name("DPoP")!] = key.proof(method: "POST", url: Self.tokenEndpoint) }
        return try await client.execute(
            uri: "/dev-idp/oauth/token",
            method: .post,
            headers: headers,
            body: Self.form(fields)
        ) { response in (response.status, response.json) }
    }

    /// HummingbirdTesting's router framework sends `Host: localhost`; the proof names the URL the request was sent to.
    static let tokenEndpoint = "http://localhost/dev-idp/oauth/token"

    func refresh(
        _ client: any TestClientProtocol,
        _ refreshToken: String,
        clientID: String = "timesheets-web",
        key: DPoPTestKey? = nil
    )
        async throws -> (status: HTTPResponse.Status, json: [String: Any])
    {
        try await token(
            client,
            ["grant_type": "refresh_token", "client_id": clientID, "refresh_token": refreshToken],
            key: key
        )
    }

    static func lifetime(of accessToken: String) throws -> Int {
        let parts = accessToken.split(separator: ".").map(String.init)
        let bytes = parts.count == 3 ? AuthBase64URL.decode(parts[1]) : nil
        let object = try bytes.map { try JSONSerialization.jsonObject(with: Data($0)) }
        let claims = object as? [String: Any] ?? [:]
        let expires = claims["exp"] as? Int ?? 0
        let issued = claims["iat"] as? Int ?? 0
        return expires - issued
    }

    @Test func refreshTokensRotateAndAReplayRevokesTheFamily() async throws {
        try await withProvider { provider, client in
            // As a browser's URLSearchParams writes it, through the login page's hidden field: `+` for spaces.
            let first = try await login(client, scope: "openid+offline_access+read:timesheets")
            let accessToken = try #require(first["access_token"] as? String)
            #expect(first["expires_in"] as? Int == 30)
            #expect(try Self.lifetime(of: accessToken) == 30, "the configured web token lifetime")
            let refreshToken = try #require(first["refresh_token"] as? String)

            let renewed = try await refresh(client, refreshToken)
            #expect(renewed.status == .ok)
            let second = try #require(renewed.json["refresh_token"] as? String)
            #expect(second != refreshToken, "each use hands out the family's next token")
            let renewedAccess = try #require(renewed.json["access_token"] as? String)
            #expect(try Self.lifetime(of: renewedAccess) == 30)
            #expect(renewed.json["scope"] as? String == first["scope"] as? String)

            let third = try #require(try await refresh(client, second).json["refresh_token"] as? String)
            #expect(provider.refreshTokens.liveTokens(ofFamilyOf: third) == 1)

            // The first token again: it leaked. It is refused, and so is the family's live token.
            let replay = try await refresh(client, refreshToken)
            #expect(replay.status == .forbidden)
            #expect(replay.json["error"] as? String == "invalid_grant")
            #expect((replay.json["error_description"] as? String)?.contains("already used") == true)
            #expect(provider.refreshTokens.liveTokens(ofFamilyOf: third) == 0)
            let afterRevocation = try await refresh(client, third)
            #expect(afterRevocation.status == .forbidden)
            #expect(afterRevocation.json["error"] as? String == "invalid_grant")

            // Another login is another family, untouched by the revocation.
            let other = try #require(
                try await login(client, scope: "openid offline_access")["refresh_token"] as? String
            )
            #expect(try await refresh(client, other).status == .ok)
        }
    }

    /// RFC 9449 §5: a DPoP login's refresh token is bound to its key. Without a proof, or with another key's, it is
    /// refused and its family revoked; a stolen refresh token cannot buy a Bearer token.
    @Test func aDPoPLoginsRefreshTokenNeedsItsKey() async throws {
        try await withProvider { _, client in
            let key = DPoPTestKey()
            let login = try await login(client, scope: "openid offline_access read:timesheets", key: key)
            #expect(login["token_type"] as? String == "DPoP", "\(login)")
            let first = try #require(login["refresh_token"] as? String)
            let renewed = try await refresh(client, first, key: key)
            #expect(renewed.status == .ok, "\(renewed.json)")
            #expect(renewed.json["token_type"] as? String == "DPoP")
            let second = try #require(renewed.json["refresh_token"] as? String)
            let bare = try await refresh(client, second)
            #expect(bare.status == .forbidden)
            #expect(bare.json["error"] as? String == "invalid_grant")
            #expect(try await refresh(client, second, key: key).status == .forbidden, "the family is revoked")

            let again = try #require(
                try await self.login(client, scope: "openid offline_access", key: key)["refresh_token"] as? String
            )
            let thief = try await refresh(client, again, key: DPoPTestKey())
            #expect(thief.status == .forbidden)
            #expect((thief.json["error_description"] as? String)?.contains("DPoP key") == true)
        }
    }

    @Test func noOfflineAccessNoRefreshToken() async throws {
        try await withProvider { _, client in
            let answer = try await login(client, scope: "openid profile")
            #expect(answer["access_token"] is String)
            #expect(answer["refresh_token"] == nil)
        }
    }

    @Test func badRefreshRequestsAreRefused() async throws {
        try await withProvider { provider, client in
            let refreshToken = try #require(
                try await login(client, scope: "openid offline_access")["refresh_token"] as? String
            )
            #expect(try await refresh(client, "not-a-token").status == .forbidden)
            let missing = try await token(client, ["grant_type": "refresh_token", "client_id": "timesheets-web"])
            #expect(missing.status == .badRequest)
            #expect(missing.json["error"] as? String == "invalid_request")
            // Presented by another client: refused, and the family is revoked.
            let foreign = try await refresh(client, refreshToken, clientID: "timesheets-batch")
            #expect(foreign.status == .forbidden)
            #expect(provider.refreshTokens.liveTokens(ofFamilyOf: refreshToken) == 0)
        }
    }

    @Test func discoveryListsTheGrant() async throws {
        try await withProvider { _, client in
            try await client.execute(uri: "/dev-idp/.well-known/openid-configuration", method: .get) { response in
                #expect((response.json["grant_types_supported"] as? [String])?.contains("refresh_token") == true)
            }
        }
    }
}
