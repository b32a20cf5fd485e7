import ArgumentParser
import Configuration
import Foundation
import SystemPackage
import TimesheetAPI

/// The settings flags shared by `serve` and `dev`. Each has an environment variable of the same name in
/// SCREAMING_SNAKE_CASE (`--auth-issuer` is `AUTH_ISSUER`); flags win over the environment, which wins over `.env`.
struct SettingsOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL (DATABASE_URL), e.g. postgres://user:pass@127.0.0.1:5432/timesheets?sslmode=disable")
    var databaseURL: String?
    @Option(
        help: """
            A streaming-replication standby for list, summary, review-queue and report reads (DATABASE_READ_URL); \
            same form as --database-url.
            """
    )
    var databaseReadURL: String?
    @Option(
        help: """
            Seconds the standby may be behind before reads go to the primary (DATABASE_READ_MAX_LAG, default 5).
            """
    )
    var databaseReadMaxLag: String?
    @Option(
        help: """
            Seconds between SIGTERM and closing the listener, while readiness answers 503 so a load balancer stops \
            sending (SHUTDOWN_DRAIN, default 0).
            """
    )
    var shutdownDrain: String?
    @Option(help: "Address to bind (HOST, default 127.0.0.1).")
    var host: String?
    @Option(help: "Port to listen on (PORT, default 8080).")
    var port: String?
    @Option(help: "Token issuer (AUTH_ISSUER), e.g. https://TENANT.auth0.com/. AUTH0_DOMAIN is accepted too.")
    var authIssuer: String?
    @Option(help: "Accepted audiences, comma-separated (AUTH_AUDIENCE; AUTH0_AUDIENCE is accepted too).")
    var authAudience: String?
    @Option(help: "JWKS URL override (AUTH_JWKS_URL); default: discovery, then ISSUER/.well-known/jwks.json.")
    var authJwksURL: String?
    @Option(help: "Allowed signing algorithms, comma-separated (AUTH_ALGORITHMS, default RS256).")
    var authAlgorithms: String?
    @Option(help: "Claim that identifies the user (AUTH_USER_ID_CLAIM, default sub).")
    var authUserIDClaim: String?
    @Option(help: "Claims read for scopes (AUTH_SCOPE_CLAIMS, default scope,permissions).")
    var authScopeClaims: String?
    @Option(help: "Clock tolerance in seconds (AUTH_CLOCK_TOLERANCE, default 5).")
    var authClockTolerance: String?
    @Option(help: "Most JWKS refetches per minute for unknown keys (AUTH_JWKS_REQUESTS_PER_MINUTE, default 5).")
    var authJwksRequestsPerMinute: String?
    @Option(
        help: """
            Verified tokens kept so a repeated token skips the signature check; \
            0 turns it off (AUTH_TOKEN_CACHE_SIZE, default 10000).
            """
    )
    var authTokenCacheSize: String?
    @Option(help: "Shared secret that enables HS256 instead of JWKS (AUTH_HS256_SECRET).")
    var authHs256Secret: String?
    @Option(help: "Refuse tokens whose iat is older than this many seconds (AUTH_MAX_TOKEN_AGE, default no limit).")
    var authMaxTokenAge: String?
    @Option(help: "RFC 9068 profile: typ at+jwt, client_id, jti and iat required (AUTH_STRICT_RFC9068, on or off).")
    var authStrictRfc9068: String?
    @Option(help: "Seconds a JWKS stays fresh without a max-age (AUTH_JWKS_CACHE_MAX_AGE, default 600).")
    var authJwksCacheMaxAge: String?
    @Option(help: "Seconds between refetches for unknown key ids or after a failure (AUTH_JWKS_COOLDOWN, default 30).")
    var authJwksCooldown: String?
    @Option(help: "Seconds one discovery or JWKS request may take (AUTH_JWKS_TIMEOUT, default 5).")
    var authJwksTimeout: String?
    @Option(help: "Claim values tokens must carry, e.g. email_verified=true,roles~=staff (AUTH_REQUIRED_CLAIMS).")
    var authRequiredClaims: String?
    @Option(help: "Client ids (azp or client_id) allowed on every route that needs a token (AUTH_CLIENT_IDS).")
    var authClientIds: String?
    @Option(help: "Client ids (azp or client_id) allowed to batch-upload (AUTH_UPLOAD_CLIENT_IDS).")
    var authUploadClientIds: String?
    @Option(help: "DPoP-bound tokens (RFC 9449): allowed, required or off (AUTH_DPOP, default allowed).")
    var authDpop: String?
    @Option(help: "Algorithms a DPoP proof may use, comma-separated (AUTH_DPOP_ALGORITHMS, default all asymmetric).")
    var authDpopAlgorithms: String?
    @Option(help: "Seconds a DPoP proof's iat may be old, plus the clock tolerance (AUTH_DPOP_IAT_WINDOW, default 60).")
    var authDpopIatWindow: String?
    @Option(help: "Require server nonces in DPoP proofs: on or off (AUTH_DPOP_NONCE, default off).")
    var authDpopNonce: String?
    @Option(help: "Secret the DPoP nonces are made with, shared by every replica (AUTH_DPOP_NONCE_SECRET).")
    var authDpopNonceSecret: String?
    @Option(help: "The service's public URL, e.g. https://api.example.com, which DPoP proofs name (PUBLIC_BASE_URL).")
    var publicBaseURL: String?
    @Option(help: "Browser origins allowed by CORS, comma-separated (CORS_ALLOWED_ORIGINS).")
    var corsAllowedOrigins: String?
    @Option(
        help: """
            Seconds a connection may wait for a request's head or body before it is closed \
            (HTTP_IDLE_TIMEOUT, default 60).
            """
    )
    var httpIdleTimeout: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (LOG_LEVEL, default info).")
    var logLevel: String?
    @Option(help: "text or json (LOG_FORMAT, default text).")
    var logFormat: String?
    @Option(help: "Environment file read if present.")
    var envFile: String = ".env"

    /// Flags, then the process environment, then the environment file.
    func configReader(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ConfigReader
    {
        let flags: [(AbsoluteConfigKey, String?)] = [
            ("database.url", databaseURL), ("database.readUrl", databaseReadURL),
            ("database.readMaxLag", databaseReadMaxLag), ("shutdown.drain", shutdownDrain), ("host", host),
            ("port", port), ("auth.issuer", authIssuer),
            ("auth.audience", authAudience), ("auth.jwksUrl", authJwksURL), ("auth.algorithms", authAlgorithms),
            ("auth.userIdClaim", authUserIDClaim), ("auth.scopeClaims", authScopeClaims),
            ("auth.clockTolerance", authClockTolerance), ("auth.jwksRequestsPerMinute", authJwksRequestsPerMinute),
            ("auth.tokenCacheSize", authTokenCacheSize),
            ("auth.hs256.secret", authHs256Secret), ("cors.allowedOrigins", corsAllowedOrigins),
            ("auth.maxTokenAge", authMaxTokenAge), ("auth.strictRfc9068", authStrictRfc9068),
            ("auth.jwksCacheMaxAge", authJwksCacheMaxAge), ("auth.jwksCooldown", authJwksCooldown),
            ("auth.jwksTimeout", authJwksTimeout), ("auth.requiredClaims", authRequiredClaims),
            ("auth.clientIds", authClientIds), ("auth.upload.clientIds", authUploadClientIds),
            ("auth.dpop", authDpop), ("auth.dpop.algorithms", authDpopAlgorithms),
            ("auth.dpop.iatWindow", authDpopIatWindow), ("auth.dpop.nonce", authDpopNonce),
            ("auth.dpop.nonce.secret", authDpopNonceSecret), ("public.baseUrl", publicBaseURL),
            ("http.idleTimeout", httpIdleTimeout), ("log.level", logLevel),
            ("log.format", logFormat),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case (let key, let value?) in flags { values[key] = ConfigValue(.string(value), isSecret: false) }
        // A flag wins over the environment under every name of its setting: `--auth-issuer` with an inherited
        // ISSUER_BASE_URL is the flag's issuer, not a conflict between two names.
        for setting in AliasedSetting.all {
            guard let primary = setting.spellings.first, let value = values[AbsoluteConfigKey(ConfigKey(primary.key))]
            else { continue }
            for alias in setting.spellings.dropFirst() { values[AbsoluteConfigKey(ConfigKey(alias.key))] = value }
        }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(environmentVariables: environment),
        ]
        if FileManager.default.fileExists(atPath: envFile) {
            providers.append(try await EnvironmentVariablesProvider(environmentFilePath: FilePath(envFile)))
        }
        return ConfigReader(providers: providers)
    }
}
