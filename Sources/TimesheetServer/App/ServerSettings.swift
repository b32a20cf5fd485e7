import AuthKit
import Configuration
import Foundation
import Logging

/// A setting that is missing or invalid: start-up stops with one message naming it.
struct SettingError: Error, CustomStringConvertible {
    var setting: String
    var message: String
    var description: String { "\(setting): \(message)" }
}

/// Everything `timesheets serve` needs, read once at start-up from flags, the environment and `.env`.
struct ServerSettings: Sendable {
    enum LogFormat: String, Sendable {
        case text
        case json
    }

    var databaseURL: String?
    var host = "127.0.0.1"
    var port = 8080
    var auth: AuthConfiguration
    var corsAllowedOrigins: [String] = []
    var logLevel: Logger.Level = .info
    var logFormat: LogFormat = .text
    /// The largest request body; batch uploads have their own limit.
    var bodyLimit = 1 << 20
    var batchBodyLimit = 10 << 20
    /// How long a connection may go without a request part arriving (a complete head, a piece of body) while the
    /// server is not busy answering it. A client that stalls or trickles its head, or an idle keep-alive connection,
    /// is closed after that, so slow clients cannot hold sockets forever.
    var httpIdleTimeout: Duration = .seconds(60)
    /// The browser client's OAuth client id (WEB_CLIENT_ID); without it `/` explains how to configure it.
    var webClientID: String?

    /// Reads and validates every setting.
    ///
    /// - Parameters:
    ///   - config: Flags first, then the environment, then `.env`.
    ///   - requireDatabase: `serve` needs `DATABASE_URL`; dev mode brings its own database.
    ///   - requireIssuer: `serve` needs `AUTH_ISSUER` (or `AUTH0_DOMAIN`, or `AUTH_HS256_SECRET`); dev mode brings its own.
    static func load(from config: ConfigReader, requireDatabase: Bool = true, requireIssuer: Bool = true) throws(SettingError) -> ServerSettings {
        let databaseURL = config.string(forKey: "database.url", isSecret: true)?.nonEmpty
        if requireDatabase, databaseURL == nil {
            throw SettingError(setting: "DATABASE_URL", message: "is required, e.g. postgres://timesheets:secret@127.0.0.1:5432/timesheets")
        }

        // AUTH0_DOMAIN (the seed's name) means issuer https://DOMAIN/.
        var issuer = config.string(forKey: "auth.issuer")?.nonEmpty
        if issuer == nil, let domain = config.string(forKey: "auth0.domain")?.nonEmpty {
            issuer = domain.contains("://") ? domain : "https://\(domain)/"
        }
        let secret = config.string(forKey: "auth.hs256.secret", isSecret: true)?.nonEmpty
        let audiences = (config.string(forKey: "auth.audience") ?? config.string(forKey: "auth0.audience") ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if requireIssuer {
            guard issuer != nil else {
                throw SettingError(setting: "AUTH_ISSUER", message: "is required, e.g. https://TENANT.auth0.com/ (or set AUTH0_DOMAIN)")
            }
            guard !audiences.isEmpty else {
                throw SettingError(setting: "AUTH_AUDIENCE", message: "is required: the API identifier tokens are issued for (or set AUTH0_AUDIENCE)")
            }
        }
        let issuerText = issuer ?? "http://127.0.0.1/"
        try validateIssuer(issuerText)

        var auth = AuthConfiguration(issuer: issuerText, audiences: audiences)
        if let secret, secret.utf8.count < 32 {
            throw SettingError(setting: "AUTH_HS256_SECRET", message: "must be at least 32 bytes; a short secret can be guessed offline")
        }
        if let secret {
            auth = AuthConfiguration(issuer: issuerText, audiences: audiences, hmacSecret: secret)
        }
        if let jwks = config.string(forKey: "auth.jwksUrl")?.nonEmpty {
            guard let url = URL(string: jwks), ["https", "http"].contains(url.scheme), url.host != nil else {
                throw SettingError(setting: "AUTH_JWKS_URL", message: "must be an https URL, got '\(jwks)'")
            }
            if url.scheme == "http", !isLoopback(url.host ?? "") {
                throw SettingError(setting: "AUTH_JWKS_URL", message: "must use https unless the host is loopback")
            }
            auth.jwksURL = url
        }
        if let algorithms = config.string(forKey: "auth.algorithms")?.nonEmpty {
            let names = Set(algorithms.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() })
            let known: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EDDSA", "HS256", "HS384", "HS512"]
            let unknown = names.subtracting(known)
            guard unknown.isEmpty, !names.isEmpty else {
                throw SettingError(setting: "AUTH_ALGORITHMS", message: "unknown algorithm(s) \(unknown.sorted().joined(separator: ", ")); use e.g. RS256,ES256")
            }
            auth.algorithms = Set(names.map { $0 == "EDDSA" ? "EdDSA" : $0 })
            let usesHMAC = !auth.algorithms.isDisjoint(with: ["HS256", "HS384", "HS512"])
            if usesHMAC != (secret != nil) {
                throw SettingError(
                    setting: "AUTH_ALGORITHMS",
                    message: usesHMAC ? "HS algorithms need AUTH_HS256_SECRET" : "AUTH_HS256_SECRET is set but no HS algorithm is allowed")
            }
        } else if secret != nil {
            auth.algorithms = ["HS256"]
        }
        if let claim = config.string(forKey: "auth.userIdClaim")?.nonEmpty { auth.userIDClaim = claim }
        if let claims = config.string(forKey: "auth.scopeClaims")?.nonEmpty {
            auth.scopeClaims = claims.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let tolerance = config.string(forKey: "auth.clockTolerance")?.nonEmpty {
            guard let seconds = Int(tolerance), (0...300).contains(seconds) else {
                throw SettingError(setting: "AUTH_CLOCK_TOLERANCE", message: "must be whole seconds from 0 to 300, got '\(tolerance)'")
            }
            auth.clockTolerance = .seconds(seconds)
        }
        if let size = config.string(forKey: "auth.tokenCacheSize")?.nonEmpty {
            guard let value = Int(size), (0...1_000_000).contains(value) else {
                throw SettingError(setting: "AUTH_TOKEN_CACHE_SIZE", message: "must be a whole number from 0 (off) to 1000000, got '\(size)'")
            }
            auth.tokenCacheSize = value
        }
        if let perMinute = config.string(forKey: "auth.jwksRequestsPerMinute")?.nonEmpty {
            guard let value = Int(perMinute), (1...600).contains(value) else {
                throw SettingError(setting: "AUTH_JWKS_REQUESTS_PER_MINUTE", message: "must be a whole number from 1 to 600, got '\(perMinute)'")
            }
            auth.jwksRequestsPerMinute = value
        }

        var settings = ServerSettings(databaseURL: databaseURL, auth: auth)
        if let host = config.string(forKey: "host")?.nonEmpty { settings.host = host }
        settings.webClientID = config.string(forKey: "web.clientId")?.nonEmpty
        if let port = config.string(forKey: "port")?.nonEmpty {
            guard let value = Int(port), (0...65_535).contains(value) else {
                throw SettingError(setting: "PORT", message: "must be a port number from 0 to 65535, got '\(port)'")
            }
            settings.port = value
        }
        if let origins = config.string(forKey: "cors.allowedOrigins")?.nonEmpty {
            settings.corsAllowedOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for origin in settings.corsAllowedOrigins {
                guard let url = URL(string: origin), url.scheme != nil, url.host != nil, url.path.isEmpty else {
                    throw SettingError(setting: "CORS_ALLOWED_ORIGINS", message: "'\(origin)' is not an origin such as https://app.example.com")
                }
            }
        }
        if let timeout = config.string(forKey: "http.idleTimeout")?.nonEmpty {
            guard let seconds = Int(timeout), (1...3_600).contains(seconds) else {
                throw SettingError(setting: "HTTP_IDLE_TIMEOUT", message: "must be whole seconds from 1 to 3600, got '\(timeout)'")
            }
            settings.httpIdleTimeout = .seconds(seconds)
        }
        if let level = config.string(forKey: "log.level")?.nonEmpty {
            guard let value = Logger.Level(rawValue: level.lowercased()) else {
                throw SettingError(setting: "LOG_LEVEL", message: "use one of trace, debug, info, notice, warning, error, critical")
            }
            settings.logLevel = value
        }
        if let format = config.string(forKey: "log.format")?.nonEmpty {
            guard let value = LogFormat(rawValue: format.lowercased()) else {
                throw SettingError(setting: "LOG_FORMAT", message: "use text or json")
            }
            settings.logFormat = value
        }
        return settings
    }

    /// An `http://` issuer is allowed only for loopback hosts; everything else must be https.
    static func validateIssuer(_ issuer: String) throws(SettingError) {
        guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
            throw SettingError(setting: "AUTH_ISSUER", message: "'\(issuer)' is not a URL such as https://TENANT.auth0.com/")
        }
        switch scheme {
        case "https": return
        case "http" where isLoopback(host): return
        default:
            throw SettingError(setting: "AUTH_ISSUER", message: "must use https unless the host is loopback (127.0.0.1, ::1, localhost), got '\(issuer)'")
        }
    }

    /// `localhost`, `::1`, or an IPv4 literal in 127.0.0.0/8 (not a name such as `127.evil.example`).
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { $0.count <= 3 && UInt8($0) != nil }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
