import AuthKit
import AuthKitTesting
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TimesheetAPI

/// A development identity provider shaped like an Auth0 tenant, mounted under `/dev-idp/` in dev mode only.
///
/// It serves discovery and JWKS, the client-credentials grant for the machine client, and the authorization-code
/// grant with PKCE (S256 only) for the browser client, whose login page lets a developer pick a seeded user.
package final class DevIdentityProvider: Sendable {
    package static let webClientID = "timesheets-web"
    package static let machineClientID = "timesheets-batch"

    let minter: DevTokenMinter
    /// The dev server's own origin; redirect URIs must be on it (`localhost` or `127.0.0.1`).
    let port: Int
    let machineClientSecret: String
    /// How long the browser client's access tokens live (`--web-token-lifetime`); it renews them before they expire.
    let webTokenLifetime: Duration
    /// The browser client's refresh tokens, one-time and rotated (see ``DevRefreshTokens``).
    let refreshTokens = DevRefreshTokens()
    private let codes = Mutex<[String: PendingCode]>([:])
    /// Proofs sent to the token endpoint, each accepted once.
    private let proofReplay = InMemoryDPoPReplayStore(capacity: 100_000)
    private let proofs = DPoPProofVerifier()

    struct PendingCode {
        var clientID: String
        var redirectURI: String
        var codeChallenge: String
        var account: DevAccount
        var scopes: [String]
        var expires: ContinuousClock.Instant
        /// The request asked for `offline_access`: the code also buys a refresh token.
        var offlineAccess = false
    }

    package init(
        minter: DevTokenMinter,
        port: Int,
        machineClientSecret: String,
        webTokenLifetime: Duration = .seconds(86_400)
    ) {
        self.minter = minter
        self.port = port
        self.machineClientSecret = machineClientSecret
        self.webTokenLifetime = webTokenLifetime
    }

    var issuerURL: String { minter.issuerURL }

    package func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group("dev-idp")
        group.get(".well-known/openid-configuration") { [self] _, _ in try Response.json(discovery()) }
        group.get(".well-known/jwks.json") { [self] _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: ByteBuffer(bytes: minter.issuer.jwks()))
            )
        }
        group.get("authorize") { [self] request, _ in try loginPage(request) }
        group.post("authorize") { [self] request, _ in try await authorize(request) }
        group.post("oauth/token") { [self] request, _ in try await token(request) }
        group.get("v2/logout") { [self] request, _ in logout(request) }
    }

    // MARK: Discovery

    struct Discovery: Encodable {
        var issuer: String
        var jwks_uri: String
        var authorization_endpoint: String
        var token_endpoint: String
        var end_session_endpoint: String
        var response_types_supported = ["code"]
        var grant_types_supported = ["authorization_code", "client_credentials", "refresh_token"]
        var code_challenge_methods_supported = ["S256"]
        var id_token_signing_alg_values_supported = ["RS256"]
        var token_endpoint_auth_methods_supported = ["client_secret_post", "none"]
        var dpop_signing_alg_values_supported = DPoPConfiguration.asymmetricAlgorithms.sorted()
    }

    func discovery() -> Discovery {
        Discovery(
            issuer: issuerURL,
            jwks_uri: issuerURL + ".well-known/jwks.json",
            authorization_endpoint: issuerURL + "authorize",
            token_endpoint: issuerURL + "oauth/token",
            end_session_endpoint: issuerURL + "v2/logout"
        )
    }

    // MARK: Authorization code + PKCE

    struct AuthorizeRequest {
        var clientID: String
        var redirectURI: String
        var state: String
        var codeChallenge: String
        var scope: String
    }

    /// Validates the parameters of an authorization request (query of GET, form of POST).
    func validate(_ parameters: [String: String]) throws -> AuthorizeRequest {
        func required(_ name: String) throws -> String {
            guard let value = parameters[name], !value.isEmpty else {
                throw oauthPageError("Missing parameter \(name).")
            }
            return value
        }
        guard parameters["response_type"] == "code" else { throw oauthPageError("response_type must be code.") }
        let clientID = try required("client_id")
        guard clientID == Self.webClientID else {
            throw oauthPageError("Unknown client_id \(clientID); use \(Self.webClientID).")
        }
        let redirectURI = try required("redirect_uri")
        guard isAllowedRedirect(redirectURI) else {
            throw oauthPageError(
                "redirect_uri must be on this dev server (http://localhost:\(port) or http://127.0.0.1:\(port))."
            )
        }
        guard parameters["code_challenge_method"] == "S256" else {
            throw oauthPageError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        }
        let challenge = try required("code_challenge")
        guard challenge.utf8.count == 43, Self.isBase64URL(challenge) else {
            throw oauthPageError("code_challenge must be the base64url SHA-256 of the verifier (43 characters).")
        }
        return AuthorizeRequest(
            clientID: clientID,
            redirectURI: redirectURI,
            state: parameters["state"] ?? "",
            codeChallenge: challenge,
            scope: parameters["scope"] ?? ""
        )
    }

    func isAllowedRedirect(_ uri: String) -> Bool {
        guard let components = URLComponents(string: uri), components.scheme == "http", components.port == port,
            components.host == "localhost" || components.host == "127.0.0.1", components.user == nil,
            components.password == nil, components.fragment == nil, components.string != nil
        else { return false }
        return true
    }

    /// GET /dev-idp/authorize — the login page: pick a seeded user.
    func loginPage(_ request: Request) throws -> Response {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { parameters[String(key)] = String(value) }
        let authorize = try validate(parameters)
        let hidden = [
            "response_type": "code", "client_id": authorize.clientID, "redirect_uri": authorize.redirectURI,
            "state": authorize.state, "code_challenge": authorize.codeChallenge,
            "code_challenge_method": "S256", "scope": authorize.scope,
        ]
        .sorted { $0.key < $1.key }
        .map { #"<input type="hidden" name="\#(escape($0.key))" value="\#(escape($0.value))">"# }
        .joined(separator: "\n      ")
        let buttons = DevAccount.people.map { account in
            #"<button type="submit" name="user" value="\#(account.name)"><strong>\#(account.role)</strong>"#
                + #"<span>\#(escape(account.email))</span>"#
                + #"<small>\#(account.permissions.joined(separator: " "))</small></button>"#
        }.joined(separator: "\n      ")
        let html = """
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign in · Timesheets dev identity provider</title>
            <style>\(Self.loginStyle)</style></head>
            <body><main>
            <h1>Sign in</h1>
            <p>Development identity provider: choose who you are. No password; tokens are signed with the dev key.</p>
            <form method="post" action="/dev-idp/authorize">
                  \(hidden)
                  \(buttons)
            </form>
            </main></body></html>
            """
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; "
                    + "form-action 'self' http://localhost:\(port) http://127.0.0.1:\(port); frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }

    // A `\` at a line's end continues that line: the value has no newline there.
    static let loginStyle = """
        body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2430;margin:0}\
        main{max-width:28rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:.75rem;\
        box-shadow:0 1px 4px #0002}
        h1{margin-top:0}button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.8rem 1rem;\
        border:1px solid #c4c9d4;border-radius:.5rem;background:#fff;font:inherit;cursor:pointer}
        button:hover,button:focus{border-color:#2456c7;outline:2px solid #2456c7}\
        button span,button small{display:block;color:#4a5263}small{font-size:.75rem}
        """

    /// POST /dev-idp/authorize — the chosen user; redirects back with a one-time code.
    func authorize(_ request: Request) async throws -> Response {
        let form = try await formParameters(request)
        let authorize = try validate(form)
        guard let account = DevAccount.people.first(where: { $0.name == form["user"] }) else {
            throw oauthPageError("Choose one of the seeded users.")
        }
        let code = Self.randomToken()
        codes.withLock { codes in
            let now = ContinuousClock.now
            codes = codes.filter { $0.value.expires > now }
            codes[code] = PendingCode(
                clientID: authorize.clientID,
                redirectURI: authorize.redirectURI,
                codeChallenge: authorize.codeChallenge,
                account: account,
                scopes: account.permissions,
                expires: now + .seconds(60),
                // The login page's form carries the scope as the browser's query gave it, `+` for spaces.
                offlineAccess: authorize.scope.split(whereSeparator: { $0 == " " || $0 == "+" })
                    .contains("offline_access")
            )
        }
        guard var components = URLComponents(string: authorize.redirectURI) else {
            throw oauthPageError("redirect_uri is not a valid URL.")
        }
        components.queryItems =
            (components.queryItems ?? []) + [URLQueryItem(name: "code", value: code)]
            + (authorize.state.isEmpty ? [] : [URLQueryItem(name: "state", value: authorize.state)])
        guard let location = components.string else { throw oauthPageError("redirect_uri is not a valid URL.") }
        return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    // MARK: Token endpoint

    struct TokenResponse: Encodable {
        var access_token: String
        var token_type = "Bearer"
        var expires_in: Int
        var scope: String
        var refresh_token: String? = nil
    }

    /// The thumbprint of the key a `DPoP` proof sent to the token endpoint proves (RFC 9449 §5), to bind the token
    /// to (`cnf.jkt`); `nil` when the client sent no proof and gets a Bearer token.
    func dpopBinding(_ request: Request) async throws -> String? {
        let values = request.headers[values: HTTPField.Name("DPoP")!]
        guard !values.isEmpty else { return nil }
        let host = request.head.authority ?? "127.0.0.1:\(port)"
        do {
            guard values.count == 1 else {
                throw DPoPProofFailure(description: DPoPFailureDescription.multipleProofs, reason: .invalidDPoPProof)
            }
            let now = Date()
            let proof = try proofs.verify(
                proof: values[0],
                request: DPoPRequest(method: "POST", url: "http://\(host)/dev-idp/oauth/token"),
                accessToken: nil,
                now: now
            )
            let expiry = proofs.replayExpiry(of: proof)
            guard try await proofReplay.recordFirstUse(of: proof.replayKey, expiresAt: expiry, now: now) else {
                throw DPoPProofFailure(description: DPoPFailureDescription.replayed, reason: .dpopProofReplayed)
            }
            return proof.thumbprint
        } catch let failure as DPoPProofFailure {
            throw OAuthError(status: .badRequest, error: "invalid_dpop_proof", description: failure.description)
        }
    }

    /// POST /dev-idp/oauth/token — client credentials, or an authorization code with its PKCE verifier. With a
    /// `DPoP` proof, the token is bound to the proof's key and its type is `DPoP`.
    func token(_ request: Request) async throws -> Response {
        let binding = try await dpopBinding(request)
        let tokenType = binding == nil ? "Bearer" : "DPoP"
        let parameters = try await tokenParameters(request)
        let lifetime = 86_400
        switch parameters["grant_type"] {
        case "client_credentials":
            guard parameters["client_id"] == Self.machineClientID,
                DevClientSecret.matches(parameters["client_secret"], machineClientSecret)
            else {
                throw OAuthError(status: .unauthorized, error: "access_denied", description: "Unauthorized")
            }
            if let audience = parameters["audience"], audience != minter.audience {
                throw OAuthError(
                    status: .forbidden,
                    error: "access_denied",
                    description: "Service not found: \(audience)"
                )
            }
            let account = DevAccount.machine
            let token = minter.token(
                for: account,
                lifetime: .seconds(lifetime),
                clientID: Self.machineClientID,
                boundTo: binding
            )
            return try .json(
                TokenResponse(
                    access_token: token,
                    token_type: tokenType,
                    expires_in: lifetime,
                    scope: account.permissions.joined(separator: " ")
                ),
                headers: Self.noStore
            )
        case "authorization_code":
            guard let code = parameters["code"], let verifier = parameters["code_verifier"] else {
                throw OAuthError(
                    status: .badRequest,
                    error: "invalid_request",
                    description: "code and code_verifier are required"
                )
            }
            guard (43...128).contains(verifier.utf8.count),
                verifier.unicodeScalars.allSatisfy({ Self.unreserved.contains($0) })
            else {
                throw OAuthError(
                    status: .badRequest,
                    error: "invalid_request",
                    description: "code_verifier must be 43 to 128 unreserved characters (RFC 7636)"
                )
            }
            // A code is used at most once, whatever the outcome.
            let pending = codes.withLock { $0.removeValue(forKey: code) }
            guard let pending, pending.expires > ContinuousClock.now else {
                throw OAuthError(
                    status: .forbidden,
                    error: "invalid_grant",
                    description: "Invalid or expired authorization code"
                )
            }
            guard parameters["client_id"] == pending.clientID, parameters["redirect_uri"] == pending.redirectURI else {
                throw OAuthError(
                    status: .forbidden,
                    error: "invalid_grant",
                    description: "client_id or redirect_uri does not match the authorization request"
                )
            }
            guard Self.challenge(for: verifier) == pending.codeChallenge else {
                throw OAuthError(
                    status: .forbidden,
                    error: "invalid_grant",
                    description: "Failed to verify code verifier"
                )
            }
            let token = minter.token(
                for: pending.account,
                scopes: pending.scopes,
                lifetime: webTokenLifetime,
                clientID: pending.clientID,
                boundTo: binding
            )
            return try .json(
                TokenResponse(
                    access_token: token,
                    token_type: tokenType,
                    expires_in: Int(webTokenLifetime.components.seconds),
                    scope: pending.scopes.joined(separator: " "),
                    refresh_token: pending.offlineAccess
                        ? refreshTokens.issue(
                            for: pending.account,
                            scopes: pending.scopes,
                            clientID: pending.clientID,
                            keyThumbprint: binding
                        )
                        : nil
                ),
                headers: Self.noStore
            )
        case "refresh_token":
            return try refresh(parameters, boundTo: binding)
        default:
            throw OAuthError(
                status: .badRequest,
                error: "unsupported_grant_type",
                description: "Use client_credentials, authorization_code or refresh_token"
            )
        }
    }

    /// GET /dev-idp/v2/logout — Auth0's logout: back to `returnTo` on this server.
    func logout(_ request: Request) -> Response {
        let target = request.uri.queryParameters["returnTo"].map(String.init) ?? ""
        let location = isAllowedRedirect(target) ? target : "/"
        return Response(status: .found, headers: [.location: location])
    }

    // MARK: Helpers

    static let noStore: HTTPFields = [.cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"]

    /// RFC 7636's unreserved characters: ALPHA / DIGIT / "-" / "." / "_" / "~".
    static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )

    static func isBase64URL(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy {
            CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_").contains($0)
        }
    }

    static func challenge(for verifier: String) -> String {
        AuthBase64URL.encode(Array(SHA256.hash(data: Data(verifier.utf8))))
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return AuthBase64URL.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    func formParameters(_ request: Request) async throws -> [String: String] {
        let buffer = try await RequestBodyReader(limit: 64 * 1024, batchLimit: 64 * 1024).collectBytes(
            request,
            limit: 64 * 1024
        )
        var result: [String: String] = [:]
        for (name, value) in try RequestBodyReader.formFields(buffer) where result[name] == nil { result[name] = value }
        return result
    }

    /// Token requests come as a form (OAuth's way) or JSON (what Auth0 also accepts and the seed's script sends).
    func tokenParameters(_ request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        if type.hasPrefix("application/json") {
            let buffer = try await RequestBodyReader(limit: 64 * 1024, batchLimit: 64 * 1024).collectBytes(
                request,
                limit: 64 * 1024
            )
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
            else {
                throw OAuthError(
                    status: .badRequest,
                    error: "invalid_request",
                    description: "The body is not a JSON object"
                )
            }
            return object.compactMapValues { $0 as? String }
        }
        return try await formParameters(request)
    }

    func oauthPageError(_ message: String) -> Problem {
        Problem(status: .badRequest, code: "invalid_request", title: "Bad authorization request", detail: message)
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }
}

/// An OAuth error response (`{"error": ..., "error_description": ...}`), as Auth0 answers token requests.
struct OAuthError: HTTPResponseError, OwnResponseError {
    var status: HTTPResponse.Status
    var error: String
    var description: String

    func response(from request: Request, context: some RequestContext) throws -> Response { render() }

    func render() -> Response {
        (try? Response.json(
            ["error": error, "error_description": description],
            status: status,
            headers: [.cacheControl: "no-store"]
        ))
            ?? Response(status: status)
    }
}
