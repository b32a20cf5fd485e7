import AuthKit
import Configuration
import Foundation
import Logging

/// A setting that is missing or invalid: start-up stops with one message naming it.
package struct SettingError: Error, CustomStringConvertible {
    var setting: String
    var message: String
    package var description: String { "\(setting): \(message)" }
}

/// Everything `timesheets serve` needs, read once at start-up from flags, the environment and `.env`.
package struct ServerSettings: Sendable {
    package enum LogFormat: String, Sendable {
        case text
        case json
    }

    package var databaseURL: String?
    /// A standby for reads (DATABASE_READ_URL); see `StandbyReads`.
    package var databaseReadURL: String?
    /// How far behind the standby may be before reads go to the primary (DATABASE_READ_MAX_LAG).
    var databaseReadMaxLag: Duration = .seconds(5)
    /// After SIGTERM: how long readiness answers 503 (and answers close their connections) before the listener
    /// closes and in-flight requests finish (SHUTDOWN_DRAIN). A load balancer's health check sees the 503 and stops
    /// sending new requests first, so a rolling restart fails none.
    var shutdownDrain: Duration = .zero
    package var host = "127.0.0.1"
    package var port = 8080
    package var auth: AuthConfiguration
    package var corsAllowedOrigins: [String] = []
    package var logLevel: Logger.Level = .info
    package var logFormat: LogFormat = .text
    /// The largest request body; batch uploads have their own limit.
    var bodyLimit = 1 << 20
    var batchBodyLimit = 10 << 20
    /// How long a connection may go without a request part arriving (a complete head, a piece of body) while the
    /// server is not busy answering it. A client that stalls or trickles its head, or an idle keep-alive connection,
    /// is closed after that, so slow clients cannot hold sockets forever.
    var httpIdleTimeout: Duration = .seconds(60)
    /// The browser client's OAuth client id (WEB_CLIENT_ID); without it `/` explains how to configure it.
    package var webClientID: String?
    /// The service's public origin (PUBLIC_BASE_URL), such as `https://api.example.com`: the URL DPoP proofs name
    /// behind a proxy. `nil`: the request's own scheme and `Host`.
    package var publicBaseURL: String?
    /// Which clients (`azp` or `client_id`) may call which routes.
    var clientAllowlists = ClientAllowlists()

    /// Reads and validates every setting.
    ///
    /// - Parameters:
    ///   - config: Flags first, then the environment, then `.env`.
    ///   - requireDatabase: `serve` needs `DATABASE_URL`; dev mode brings its own database.
    ///   - requireIssuer: `serve` needs `AUTH_ISSUER` (or an alias, see ``AliasedSetting``); dev mode brings its own.
    package static func load(
        from config: ConfigReader,
        requireDatabase: Bool = true,
        requireIssuer: Bool = true
    ) throws(SettingError) -> ServerSettings {
        let databaseURL = config.string(forKey: "database.url", isSecret: true)?.nonEmpty
        if requireDatabase, databaseURL == nil {
            throw SettingError(
                setting: "DATABASE_URL",
                message: "is required, e.g. postgres://timesheets:secret@127.0.0.1:5432/timesheets"
            )
        }

        let auth = try AuthConfiguration.load(from: config, requireIssuer: requireIssuer)

        var settings = ServerSettings(databaseURL: databaseURL, auth: auth)
        settings.databaseReadURL = config.string(forKey: "database.readUrl", isSecret: true)?.nonEmpty
        if let lag = try config.seconds("database.readMaxLag", name: "DATABASE_READ_MAX_LAG", in: 0.1...3_600) {
            settings.databaseReadMaxLag = lag
        }
        if let drain = try config.seconds("shutdown.drain", name: "SHUTDOWN_DRAIN", in: 0...60) {
            settings.shutdownDrain = drain
        }
        if let host = config.string(forKey: "host")?.nonEmpty { settings.host = host }
        settings.webClientID = config.string(forKey: "web.clientId")?.nonEmpty
        if let port = try config.wholeNumber("port", name: "PORT", in: 0...65_535) { settings.port = port }
        if let origins = config.string(forKey: "cors.allowedOrigins")?.nonEmpty {
            settings.corsAllowedOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for origin in settings.corsAllowedOrigins {
                guard let url = URL(string: origin), url.scheme != nil, url.host != nil, url.path.isEmpty else {
                    throw SettingError(
                        setting: "CORS_ALLOWED_ORIGINS",
                        message: "'\(origin)' is not an origin such as https://app.example.com"
                    )
                }
            }
        }
        settings.publicBaseURL = try publicBaseURL(config.string(forKey: "public.baseUrl")?.nonEmpty)
        settings.clientAllowlists = ClientAllowlists(
            everyRoute: clientIDs(config.string(forKey: "auth.clientIds")),
            batchUpload: clientIDs(config.string(forKey: "auth.upload.clientIds"))
        )
        if let timeout = config.string(forKey: "http.idleTimeout")?.nonEmpty {
            guard let seconds = Int(timeout), (1...3_600).contains(seconds) else {
                throw SettingError(
                    setting: "HTTP_IDLE_TIMEOUT",
                    message: "must be whole seconds from 1 to 3600, got '\(timeout)'"
                )
            }
            settings.httpIdleTimeout = .seconds(seconds)
        }
        if let level = config.string(forKey: "log.level")?.nonEmpty {
            guard let value = Logger.Level(rawValue: level.lowercased()) else {
                throw SettingError(
                    setting: "LOG_LEVEL",
                    message: "use one of trace, debug, info, notice, warning, error, critical"
                )
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

    /// `https://host[:port][/prefix]` (http for loopback hosts), without a trailing slash, query or fragment.
    static func publicBaseURL(_ text: String?) throws(SettingError) -> String? {
        guard let text else { return nil }
        let trimmed = String(text.trimmingSuffix("/"))
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
            url.query == nil, url.fragment == nil, url.user == nil,
            scheme == "https" || (scheme == "http" && isLoopback(host))
        else {
            throw SettingError(
                setting: "PUBLIC_BASE_URL",
                message: "'\(text)' is not the service's public URL such as https://api.example.com "
                    + "(https unless the host is loopback; no query or fragment)"
            )
        }
        return trimmed
    }

    /// A comma-separated list of client ids, `nil` when unset.
    static func clientIDs(_ text: String?) -> Set<String>? {
        guard let text, !text.isEmpty else { return nil }
        let ids = Set(AliasedSetting.listItems(text))
        return ids.isEmpty ? nil : ids
    }

    /// An `http://` issuer is allowed only for loopback hosts; everything else must be https.
    static func validateIssuer(_ issuer: String, setting: String = "AUTH_ISSUER") throws(SettingError) {
        guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
            throw SettingError(setting: setting, message: "'\(issuer)' is not a URL such as https://TENANT.auth0.com/")
        }
        switch scheme {
        case "https": return
        case "http" where isLoopback(host): return
        default:
            throw SettingError(
                setting: setting,
                message: "must use https unless the host is loopback (127.0.0.1, ::1, localhost), got '\(issuer)'"
            )
        }
    }

    /// Hosts that may use plain http; AuthKit owns the rule.
    package static func isLoopback(_ host: String) -> Bool {
        AuthConfiguration.isLoopbackHost(host)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

extension ConfigReader {
    /// A duration in seconds (`5`, `0.5`) within `range`, or `nil` when unset.
    func seconds(_ key: String, name: String, in range: ClosedRange<Double>) throws(SettingError) -> Duration? {
        guard let text = string(forKey: ConfigKey(key))?.nonEmpty else { return nil }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            func written(_ bound: Double) -> String { bound == bound.rounded() ? "\(Int(bound))" : "\(bound)" }
            throw SettingError(
                setting: name,
                message: "must be seconds from \(written(range.lowerBound)) to \(written(range.upperBound)), "
                    + "got '\(text)'"
            )
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }
}

/// The clients (`azp`, else `client_id`) allowed per route group: `AUTH_CLIENT_IDS` for every route that needs a
/// token, `AUTH_UPLOAD_CLIENT_IDS` for the batch upload. `nil`: any client.
struct ClientAllowlists: Sendable, Equatable {
    var everyRoute: Set<String>?
    var batchUpload: Set<String>?
}
