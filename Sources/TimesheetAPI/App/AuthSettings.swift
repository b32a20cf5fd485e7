import AuthKit
import Configuration
import Foundation

/// A setting that users may spell several ways: our name, the reference sample's (`AUTH0_DOMAIN`) and those of
/// Auth0's current Node middleware (`ISSUER_BASE_URL`). One value may come from any of them; two names with
/// different values stop start-up, because silently preferring one would hide a mistake in a deployment.
package struct AliasedSetting: Sendable {
    package struct Spelling: Sendable {
        /// The configuration key (`auth.issuer` is `AUTH_ISSUER` in the environment).
        package var key: String
        /// The environment name, for messages.
        var name: String
        /// Turns this spelling's text into the setting's canonical text (`tenant.auth0.com` into an issuer URL).
        var canonical: @Sendable (String) -> String = { $0 }
    }

    package var spellings: [Spelling]
    /// Whether two spellings' canonical values agree.
    var agree: @Sendable (String, String) -> Bool = { $0 == $1 }

    /// The canonical value and the name it came from, or `nil` when no spelling is set.
    func read(from config: ConfigReader) throws(SettingError) -> (value: String, name: String)? {
        var found: (value: String, name: String, raw: String)?
        for spelling in spellings {
            guard let raw = config.string(forKey: ConfigKey(spelling.key))?.nonEmpty else { continue }
            let value = spelling.canonical(raw)
            if let first = found {
                guard agree(first.value, value) else {
                    throw SettingError(
                        setting: first.name,
                        message:
                            "\(first.name)='\(first.raw)' and \(spelling.name)='\(raw)' name the same setting with "
                            + "different values; set only one of them"
                    )
                }
            } else {
                found = (value, spelling.name, raw)
            }
        }
        return found.map { ($0.value, $0.name) }
    }
}

extension AliasedSetting {
    /// `AUTH_ISSUER`, `AUTH0_DOMAIN` (a bare domain means `https://DOMAIN/`) and `ISSUER_BASE_URL`.
    /// `AUTH_ISSUER` is taken exactly as written (some issuers, such as Google's, have no trailing slash).
    static let issuer = AliasedSetting(
        spellings: [
            .init(key: "auth.issuer", name: "AUTH_ISSUER"),
            .init(key: "auth0.domain", name: "AUTH0_DOMAIN", canonical: { $0.contains("://") ? $0 : "https://\($0)/" }),
            .init(key: "issuerBaseUrl", name: "ISSUER_BASE_URL", canonical: auth0Issuer),
        ],
        agree: { comparableIssuer($0) == comparableIssuer($1) }
    )

    /// `AUTH_AUDIENCE`, `AUTH0_AUDIENCE` and `AUDIENCE`: comma-separated identifiers.
    static let audience = AliasedSetting(
        spellings: [
            .init(key: "auth.audience", name: "AUTH_AUDIENCE", canonical: canonicalList),
            .init(key: "auth0.audience", name: "AUTH0_AUDIENCE", canonical: canonicalList),
            .init(key: "audience", name: "AUDIENCE", canonical: canonicalList),
        ],
        agree: { Set($0.split(separator: ",")) == Set($1.split(separator: ",")) }
    )

    /// `AUTH_ALGORITHMS` and `TOKEN_SIGNING_ALG`.
    static let algorithms = AliasedSetting(
        spellings: [
            .init(key: "auth.algorithms", name: "AUTH_ALGORITHMS", canonical: { canonicalList($0.uppercased()) }),
            .init(key: "tokenSigningAlg", name: "TOKEN_SIGNING_ALG", canonical: { canonicalList($0.uppercased()) }),
        ],
        agree: { Set($0.split(separator: ",")) == Set($1.split(separator: ",")) }
    )

    /// Every setting with several names, for the flags (a flag speaks for all of its setting's names).
    package static let all = [issuer, audience, algorithms]

    /// An issuer as two spellings of it are compared: scheme and host in lower case, no trailing slash.
    static func comparableIssuer(_ text: String) -> String {
        guard let url = URL(string: text), let scheme = url.scheme, let host = url.host else {
            return String(text.trimmingSuffix("/"))
        }
        let port = url.port.map { ":\($0)" } ?? ""
        return "\(scheme.lowercased())://\(host.lowercased())\(port)\(url.path.trimmingSuffix("/"))"
    }

    /// A base URL with no path names Auth0's issuer `https://TENANT/`: express-oauth2-jwt-bearer's users write
    /// `ISSUER_BASE_URL=https://TENANT` and the middleware finds the issuer through discovery.
    static func auth0Issuer(_ text: String) -> String {
        guard let url = URL(string: text), url.host != nil, url.path.isEmpty, url.query == nil else { return text }
        return text + "/"
    }

    /// Trimmed, non-empty items, comma-joined in their order.
    static func canonicalList(_ text: String) -> String {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: ",")
    }
}

extension AuthConfiguration {
    /// Every signing algorithm AuthKit verifies, by the names `AUTH_ALGORITHMS` accepts (upper case).
    static let knownAlgorithmNames: Set<String> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EDDSA", "HS256", "HS384",
        "HS512",
    ]

    /// Reads the token settings (`AUTH_*` and their aliases).
    ///
    /// - Parameters:
    ///   - requireIssuer: `serve` needs an issuer and an audience; dev mode brings its own.
    static func load(from config: ConfigReader, requireIssuer: Bool) throws(SettingError) -> AuthConfiguration {
        let issuer = try AliasedSetting.issuer.read(from: config)
        let audiences =
            try AliasedSetting.audience.read(from: config)?.value.split(separator: ",").map(String.init) ?? []
        if requireIssuer {
            guard issuer != nil else {
                throw SettingError(
                    setting: "AUTH_ISSUER",
                    message: "is required, e.g. https://TENANT.auth0.com/ (or set AUTH0_DOMAIN or ISSUER_BASE_URL)"
                )
            }
            guard !audiences.isEmpty else {
                throw SettingError(
                    setting: "AUTH_AUDIENCE",
                    message: "is required: the API identifier tokens are issued for (or set AUTH0_AUDIENCE or AUDIENCE)"
                )
            }
        }
        let issuerText = issuer?.value ?? "http://127.0.0.1/"
        try ServerSettings.validateIssuer(issuerText, setting: issuer?.name ?? "AUTH_ISSUER")

        let secret = config.string(forKey: "auth.hs256.secret", isSecret: true)?.nonEmpty
        var auth: AuthConfiguration
        if let secret {
            guard secret.utf8.count >= 32 else {
                throw SettingError(
                    setting: "AUTH_HS256_SECRET",
                    message: "must be at least 32 bytes; a short secret can be guessed offline"
                )
            }
            auth = AuthConfiguration(issuer: issuerText, audiences: audiences, hmacSecret: secret)
        } else {
            auth = AuthConfiguration(issuer: issuerText, audiences: audiences)
        }
        try auth.readJWKSURL(from: config)
        try auth.readAlgorithms(from: config, hasSecret: secret != nil)
        try auth.readClaimsAndLimits(from: config)
        return auth
    }

    private mutating func readJWKSURL(from config: ConfigReader) throws(SettingError) {
        guard let jwks = config.string(forKey: "auth.jwksUrl")?.nonEmpty else { return }
        guard let url = URL(string: jwks), ["https", "http"].contains(url.scheme), url.host != nil else {
            throw SettingError(setting: "AUTH_JWKS_URL", message: "must be an https URL, got '\(jwks)'")
        }
        if url.scheme == "http", !ServerSettings.isLoopback(url.host ?? "") {
            throw SettingError(setting: "AUTH_JWKS_URL", message: "must use https unless the host is loopback")
        }
        jwksURL = url
    }

    private mutating func readAlgorithms(from config: ConfigReader, hasSecret: Bool) throws(SettingError) {
        guard let (list, name) = try AliasedSetting.algorithms.read(from: config) else {
            if hasSecret { algorithms = ["HS256"] }
            return
        }
        let names = Set(list.split(separator: ",").map(String.init))
        let unknown = names.subtracting(Self.knownAlgorithmNames)
        guard unknown.isEmpty, !names.isEmpty else {
            throw SettingError(
                setting: name,
                message: "unknown algorithm(s) \(unknown.sorted().joined(separator: ", ")); use some of "
                    + Self.knownAlgorithmNames.sorted().map { $0 == "EDDSA" ? "EdDSA" : $0 }.joined(separator: ",")
            )
        }
        algorithms = Set(names.map { $0 == "EDDSA" ? "EdDSA" : $0 })
        let usesHMAC = !algorithms.isDisjoint(with: ["HS256", "HS384", "HS512"])
        if usesHMAC != hasSecret {
            throw SettingError(
                setting: name,
                message: usesHMAC
                    ? "HS algorithms need AUTH_HS256_SECRET" : "AUTH_HS256_SECRET is set but no HS algorithm is allowed"
            )
        }
    }

    private mutating func readClaimsAndLimits(from config: ConfigReader) throws(SettingError) {
        if let claim = config.string(forKey: "auth.userIdClaim")?.nonEmpty { userIDClaim = claim }
        if let claims = config.string(forKey: "auth.scopeClaims")?.nonEmpty {
            scopeClaims = claims.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let seconds = try config.wholeNumber("auth.clockTolerance", name: "AUTH_CLOCK_TOLERANCE", in: 0...300) {
            clockTolerance = .seconds(seconds)
        }
        if let size = try config.wholeNumber("auth.tokenCacheSize", name: "AUTH_TOKEN_CACHE_SIZE", in: 0...1_000_000) {
            tokenCacheSize = size
        }
        if let perMinute = try config.wholeNumber(
            "auth.jwksRequestsPerMinute",
            name: "AUTH_JWKS_REQUESTS_PER_MINUTE",
            in: 1...600
        ) {
            jwksRequestsPerMinute = perMinute
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> Substring {
        hasSuffix(suffix) ? dropLast(suffix.count) : self[...]
    }
}

extension ConfigReader {
    /// A whole number within `range`, `nil` when unset; anything else stops start-up naming the setting.
    func wholeNumber(_ key: String, name: String, in range: ClosedRange<Int>) throws(SettingError) -> Int? {
        guard let text = string(forKey: ConfigKey(key))?.nonEmpty else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw SettingError(
                setting: name,
                message: "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'"
            )
        }
        return value
    }
}
