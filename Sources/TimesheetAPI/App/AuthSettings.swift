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
    /// `AUTH_ISSUER`, `AUTH0_DOMAIN` (a bare domain means `https://DOMAIN/`) and `ISSUER_BASE_URL`, each a
    /// comma-separated list of issuers (an Auth0 custom domain and the tenant domain, say). Each issuer in
    /// `AUTH_ISSUER` is taken exactly as written (some issuers, such as Google's, have no trailing slash); two names
    /// agree when they list the same issuers in any order.
    static let issuer = AliasedSetting(
        spellings: [
            .init(key: "auth.issuer", name: "AUTH_ISSUER", canonical: { eachItem(of: $0) { $0 } }),
            .init(
                key: "auth0.domain",
                name: "AUTH0_DOMAIN",
                canonical: { eachItem(of: $0) { $0.contains("://") ? $0 : "https://\($0)/" } }
            ),
            .init(key: "issuerBaseUrl", name: "ISSUER_BASE_URL", canonical: { eachItem(of: $0, auth0Issuer) }),
        ],
        agree: { Set(listItems($0).map(comparableIssuer)) == Set(listItems($1).map(comparableIssuer)) }
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

    /// Each trimmed, non-empty item of a comma-separated list made canonical by `canonical`, comma-joined in order.
    static func eachItem(of text: String, _ canonical: (String) -> String) -> String {
        listItems(text).map(canonical).joined(separator: ",")
    }

    /// The trimmed, non-empty items of a comma-separated list.
    static func listItems(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
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
        let issuers = issuer.map { AliasedSetting.listItems($0.value) } ?? ["http://127.0.0.1/"]
        let issuerSetting = issuer?.name ?? "AUTH_ISSUER"
        guard !issuers.isEmpty else {
            throw SettingError(setting: issuerSetting, message: "names no issuer")
        }
        var seen = Set<String>()
        for one in issuers {
            try ServerSettings.validateIssuer(one, setting: issuerSetting)
            guard seen.insert(AliasedSetting.comparableIssuer(one)).inserted else {
                throw SettingError(setting: issuerSetting, message: "lists '\(one)' twice")
            }
        }

        let secret = config.string(forKey: "auth.hs256.secret", isSecret: true)?.nonEmpty
        var auth: AuthConfiguration
        if let secret {
            guard secret.utf8.count >= 32 else {
                throw SettingError(
                    setting: "AUTH_HS256_SECRET",
                    message: "must be at least 32 bytes; a short secret can be guessed offline"
                )
            }
            auth = AuthConfiguration(issuer: issuers[0], audiences: audiences, hmacSecret: secret)
        } else {
            auth = AuthConfiguration(issuer: issuers[0], audiences: audiences)
        }
        auth.issuers = issuers
        try auth.readJWKSURL(from: config)
        try auth.readAlgorithms(from: config, hasSecret: secret != nil)
        try auth.readClaimsAndLimits(from: config)
        try auth.readTokenProfile(from: config)
        try auth.readKeyFetching(from: config)
        auth.requiredClaims = try RequiredClaimsSetting.parse(config.string(forKey: "auth.requiredClaims"))
        auth.dpop = try DPoPSettings.load(from: config)
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
        guard issuers.count == 1 else {
            throw SettingError(
                setting: "AUTH_JWKS_URL",
                message: "applies to one issuer, but AUTH_ISSUER lists \(issuers.count); leave it unset so that "
                    + "each issuer's keys are found through its own discovery document"
            )
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

extension AuthConfiguration {
    /// `AUTH_MAX_TOKEN_AGE` and `AUTH_STRICT_RFC9068`.
    fileprivate mutating func readTokenProfile(from config: ConfigReader) throws(SettingError) {
        if let seconds = try config.wholeNumber("auth.maxTokenAge", name: "AUTH_MAX_TOKEN_AGE", in: 1...31_536_000) {
            maximumTokenAge = .seconds(seconds)
        }
        if let strict = try config.onOff("auth.strictRfc9068", name: "AUTH_STRICT_RFC9068") {
            requireRFC9068 = strict
        }
    }

    /// `AUTH_JWKS_CACHE_MAX_AGE`, `AUTH_JWKS_COOLDOWN` and `AUTH_JWKS_TIMEOUT`.
    fileprivate mutating func readKeyFetching(from config: ConfigReader) throws(SettingError) {
        if let seconds = try config.wholeNumber(
            "auth.jwksCacheMaxAge",
            name: "AUTH_JWKS_CACHE_MAX_AGE",
            in: 60...86_400
        ) {
            jwksCacheTTL = .seconds(seconds)
        }
        if let seconds = try config.wholeNumber("auth.jwksCooldown", name: "AUTH_JWKS_COOLDOWN", in: 1...3_600) {
            jwksCooldown = .seconds(seconds)
        }
        if let seconds = try config.wholeNumber("auth.jwksTimeout", name: "AUTH_JWKS_TIMEOUT", in: 1...60) {
            jwksTimeout = .seconds(seconds)
        }
    }
}

/// `AUTH_REQUIRED_CLAIMS`: comma-separated `CLAIM=VALUE` (the claim equals the value: `true`, `false`, a number, or
/// text, `"quoted"` to keep `true` or `12` as text) and `CLAIM~=VALUE` (the claim, an array or a space-separated
/// string, includes the value).
enum RequiredClaimsSetting {
    static func parse(_ text: String?) throws(SettingError) -> [RequiredClaim] {
        guard let text, !text.isEmpty else { return [] }
        var claims: [RequiredClaim] = []
        for item in AliasedSetting.listItems(text) {
            func refuse() -> SettingError {
                SettingError(
                    setting: "AUTH_REQUIRED_CLAIMS",
                    message: "'\(item)' is not CLAIM=VALUE or CLAIM~=VALUE, e.g. email_verified=true"
                )
            }
            if let range = item.range(of: "~=") {
                let name = item[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let value = item[range.upperBound...].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, !value.isEmpty, !value.contains(" ") else { throw refuse() }
                claims.append(.includes(name, value))
            } else if let equals = item.firstIndex(of: "=") {
                let name = item[..<equals].trimmingCharacters(in: .whitespaces)
                let value = item[item.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, !value.isEmpty else { throw refuse() }
                claims.append(.equals(name, jsonValue(value)))
            } else {
                throw refuse()
            }
        }
        return claims
    }

    /// `true`, `false`, a finite number, `"text"` or else the text itself.
    static func jsonValue(_ text: String) -> JSONClaimValue {
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default:
            if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
                return .string(String(text.dropFirst().dropLast()))
            }
            if let number = Double(text), number.isFinite, text.first.map({ $0 == "-" || $0.isNumber }) == true {
                return .number(number)
            }
            return .string(text)
        }
    }
}

/// `AUTH_DPOP`, `AUTH_DPOP_ALGORITHMS`, `AUTH_DPOP_IAT_WINDOW`, `AUTH_DPOP_NONCE` and `AUTH_DPOP_NONCE_SECRET`.
enum DPoPSettings {
    static func load(from config: ConfigReader) throws(SettingError) -> DPoPConfiguration {
        var dpop = DPoPConfiguration()
        if let mode = config.string(forKey: "auth.dpop")?.nonEmpty {
            guard let value = DPoPConfiguration.Mode(rawValue: mode.lowercased()) else {
                throw SettingError(setting: "AUTH_DPOP", message: "use allowed, required or off, got '\(mode)'")
            }
            dpop.mode = value
        }
        if let list = config.string(forKey: "auth.dpop.algorithms")?.nonEmpty {
            let byUpperCase = Dictionary(
                uniqueKeysWithValues: DPoPConfiguration.asymmetricAlgorithms.map { ($0.uppercased(), $0) }
            )
            var algorithms = Set<String>()
            for name in AliasedSetting.listItems(list) {
                guard let known = byUpperCase[name.uppercased()] else {
                    throw SettingError(
                        setting: "AUTH_DPOP_ALGORITHMS",
                        message:
                            "'\(name)' is not an asymmetric algorithm (none and HS* are never allowed); use some of "
                            + DPoPConfiguration.asymmetricAlgorithms.sorted().joined(separator: ",")
                    )
                }
                algorithms.insert(known)
            }
            guard !algorithms.isEmpty else {
                throw SettingError(setting: "AUTH_DPOP_ALGORITHMS", message: "names no algorithm")
            }
            dpop.algorithms = algorithms
        }
        if let seconds = try config.wholeNumber("auth.dpop.iatWindow", name: "AUTH_DPOP_IAT_WINDOW", in: 1...3_600) {
            dpop.issuedAtWindow = .seconds(seconds)
        }
        let secret = config.string(forKey: "auth.dpop.nonce.secret", isSecret: true)?.nonEmpty
        if try config.onOff("auth.dpop.nonce", name: "AUTH_DPOP_NONCE") == true {
            guard let secret else {
                throw SettingError(
                    setting: "AUTH_DPOP_NONCE",
                    message: "needs AUTH_DPOP_NONCE_SECRET (at least 32 bytes, the same at every replica)"
                )
            }
            guard secret.utf8.count >= 32 else {
                throw SettingError(
                    setting: "AUTH_DPOP_NONCE_SECRET",
                    message: "must be at least 32 bytes; a short secret can be guessed offline"
                )
            }
            dpop.nonceSecret = Array(secret.utf8)
        } else if secret != nil {
            throw SettingError(setting: "AUTH_DPOP_NONCE_SECRET", message: "is set but AUTH_DPOP_NONCE is not on")
        }
        return dpop
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> Substring {
        hasSuffix(suffix) ? dropLast(suffix.count) : self[...]
    }
}

extension ConfigReader {
    /// `on`/`true` or `off`/`false` (any case), `nil` when unset; anything else stops start-up naming the setting.
    func onOff(_ key: String, name: String) throws(SettingError) -> Bool? {
        guard let text = string(forKey: ConfigKey(key))?.nonEmpty else { return nil }
        switch text.lowercased() {
        case "on", "true": return true
        case "off", "false": return false
        default: throw SettingError(setting: name, message: "use on or off, got '\(text)'")
        }
    }

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
