import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Serves the browser client bundled as resources (so the binary serves it from any working directory) and the
/// small JSON document that tells it where to log in.
struct WebClient: Sendable {
    /// What the browser client needs to run Authorization Code + PKCE against the identity provider.
    struct Configuration: Encodable, Sendable {
        var issuer: String
        var clientID: String
        var audience: String
        /// What the browser asks for: the OpenID scopes and a person's own-entry scopes, never `approve:timesheets`
        /// nor `batch:upload`. Without Auth0's RBAC option "Add Permissions in the Access Token", `scope` holds
        /// whatever a client asked for, so asking for approval here would hand it to every user; managers get it
        /// from their role's `permissions` instead (see the README on AUTH_SCOPE_CLAIMS=permissions).
        /// `offline_access` asks for a refresh token, with which the client renews its access token before it expires.
        var scope = (["openid", "profile", "email", "offline_access"] + Scopes.ownEntries).joined(separator: " ")
        /// Whether the browser asks for DPoP-bound tokens (when `AUTH_DPOP` is not `off`). An identity provider that
        /// does not support DPoP answers with a Bearer token, which the browser then sends as such.
        var dpop = false

        enum CodingKeys: String, CodingKey {
            case issuer, audience, scope, dpop
            case clientID = "client_id"
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case logoutEndpoint = "logout_endpoint"
        }

        /// Auth0's endpoints, relative to the issuer; the dev identity provider uses the same layout.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            let base = issuer.hasSuffix("/") ? issuer : issuer + "/"
            try container.encode(issuer, forKey: .issuer)
            try container.encode(clientID, forKey: .clientID)
            try container.encode(audience, forKey: .audience)
            try container.encode(scope, forKey: .scope)
            try container.encode(dpop, forKey: .dpop)
            try container.encode(base + "authorize", forKey: .authorizationEndpoint)
            try container.encode(base + "oauth/token", forKey: .tokenEndpoint)
            try container.encode(base + "v2/logout", forKey: .logoutEndpoint)
        }

        /// The issuer's origin, which the page may call (the token endpoint).
        var issuerOrigin: String {
            guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host else { return "" }
            return "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        }
    }

    /// `nil` when no client id is configured: the page then says how to configure it.
    let configuration: Configuration?

    var contentSecurityPolicy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self' \(configuration?.issuerOrigin ?? ""); "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/") { _, _ in try file("index.html") }
        router.get("app/:file") { _, context in try file(context.parameters.get("file") ?? "") }
        router.get("config.json") { _, _ in
            guard let configuration else {
                throw Problem(
                    status: .notFound,
                    code: "web_client_not_configured",
                    title: "Web client not configured",
                    detail: "Set WEB_CLIENT_ID (the Auth0 application's client id) to enable the browser client."
                )
            }
            return try Response.json(configuration, headers: [.cacheControl: "no-cache"])
        }
    }

    func file(_ name: String) throws -> Response {
        let allowed = name.range(of: #"^[a-z0-9-]+\.(html|js|css|svg)$"#, options: .regularExpression) != nil
        guard allowed, let directory = Bundle.module.url(forResource: "web", withExtension: nil),
            let data = try? Data(contentsOf: directory.appendingPathComponent(name))
        else { throw Problem.notFound("There is no such file of the web client.") }
        let type: String
        switch (name as NSString).pathExtension {
        case "html": type = "text/html; charset=utf-8"
        case "js": type = "text/javascript; charset=utf-8"
        case "css": type = "text/css; charset=utf-8"
        default: type = "image/svg+xml"
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: type,
                .cacheControl: name.hasSuffix(".html") ? "no-cache" : "public, max-age=300",
                .contentSecurityPolicy: contentSecurityPolicy,
                .xContentTypeOptions: "nosniff",
                .referrerPolicy: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
