import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Logging
import Metrics
import PercentEncoding

/// Turns a request's bearer credentials into a verified ``Principal``, or into an RFC 6750 ``AuthFailure``.
///
/// Create one at start-up and share it: it is `Sendable`, keeps the issuer's keys cached, and verifies tokens
/// without locks held across work, actor hops or network calls once the keys are loaded.
///
/// ```swift
/// let auth = BearerAuthenticator(
///     configuration: AuthConfiguration(issuer: "https://tenant.auth0.com/", audiences: ["https://api.example.com"]),
///     httpClient: .shared,
///     logger: logger
/// )
/// try await auth.prefetchKeys()                      // before accepting traffic
/// let principal = try await auth.authenticate(request.headerFields)
/// try auth.authorize(principal, .all(["read:timesheets"]))
/// ```
///
/// Every method that fails throws exactly ``AuthFailure`` (typed throws).
public final class BearerAuthenticator: Sendable {
    /// Asked after every successful verification (also for cached tokens): return `true` to reject the token.
    public typealias RevocationCheck = @Sendable (_ principal: Principal, _ tokenID: String?) async -> Bool
    /// An extra check on a verified token: return a description (sent as `error_description`) to reject it.
    public typealias ClaimCheck = @Sendable (_ principal: Principal) -> String?

    /// The configuration this authenticator was made with.
    public let configuration: AuthConfiguration
    private let keys: KeySetManager
    private let hmacKey: VerificationKey?
    private let usesKeySet: Bool
    private let cache: VerifiedTokenCache?
    private let clock: AuthClock
    private let logger: Logger
    private let isRevoked: RevocationCheck?
    private let claimChecks: [ClaimCheck]
    private let failureCounters: [AuthFailure.Reason: Counter]
    private let cacheHits: Counter
    private let cacheMisses: Counter

    /// Largest token accepted, in bytes.
    static let maximumTokenLength = 16 * 1024

    /// - Parameters:
    ///   - configuration: Issuer, audiences and the options of ``AuthConfiguration``.
    ///   - httpClient: Used for discovery and JWKS requests only.
    ///   - logger: Key loading, skipped keys and stale-key warnings go here; token failures do not (they are counted).
    ///   - clock: Where "now" comes from; inject one in tests.
    ///   - isRevoked: The revocation hook.
    ///   - claimChecks: Extra checks run on every verified principal.
    ///   - metricsFactory: Where failure, cache and JWKS-fetch metrics go (default: the process-wide metrics system).
    public init(
        configuration: AuthConfiguration,
        httpClient: HTTPClient,
        logger: Logger,
        clock: AuthClock = .system,
        isRevoked: RevocationCheck? = nil,
        claimChecks: [ClaimCheck] = [],
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.keys = KeySetManager(
            configuration: configuration,
            httpClient: httpClient,
            clock: clock,
            logger: logger,
            metricsFactory: metricsFactory
        )
        self.cacheHits = Counter(
            label: "authkit_token_cache_total",
            dimensions: [("result", "hit")],
            factory: metricsFactory
        )
        self.cacheMisses = Counter(
            label: "authkit_token_cache_total",
            dimensions: [("result", "miss")],
            factory: metricsFactory
        )
        self.hmacKey = configuration.hmacSecret.flatMap {
            JWKSParser.hmacKey(secret: $0, allowedAlgorithms: configuration.algorithms)
        }
        self.usesKeySet = !configuration.algorithms.subtracting(KeyFamily.hmac).isEmpty
        self.cache = configuration.tokenCacheSize > 0 ? VerifiedTokenCache(capacity: configuration.tokenCacheSize) : nil
        self.clock = clock
        self.logger = logger
        self.isRevoked = isRevoked
        self.claimChecks = claimChecks
        var counters: [AuthFailure.Reason: Counter] = [:]
        for reason in AuthFailure.Reason.allCases {
            counters[reason] = Counter(
                label: "authkit_auth_failures_total",
                dimensions: [("reason", reason.rawValue)],
                factory: metricsFactory
            )
        }
        self.failureCounters = counters
    }

    // MARK: Public API

    /// Finds the bearer token in the request (the `Authorization` header; the `access_token` query parameter or a
    /// cookie only when enabled) and verifies it.
    /// - Parameters:
    ///   - fields: The request's header fields.
    ///   - query: The request's query string without the `?`, used only when
    ///     ``AuthConfiguration/allowQueryToken`` is set.
    public func authenticate(_ fields: HTTPFields, query: String? = nil) async throws(AuthFailure) -> Principal {
        let token: String
        do {
            token = try extractToken(fields, query: query)
        } catch {
            count(error)
            throw error
        }
        return try await verify(token: token)
    }

    /// Verifies a compact JWS access token: algorithm, key, signature, then claims, then the hooks.
    public func verify(token: String) async throws(AuthFailure) -> Principal {
        do {
            return try await verifyUncounted(token)
        } catch {
            count(error)
            throw error
        }
    }

    /// Checks a principal's scopes; throws a 403 `insufficient_scope` naming the required scopes.
    public func authorize(_ principal: Principal, _ requirement: ScopeRequirement) throws(AuthFailure) {
        guard requirement.isSatisfied(by: principal.scopes) else {
            let failure = AuthFailure.insufficientScope(requirement.scopes, realm: configuration.realm)
            count(failure)
            throw failure
        }
    }

    /// Loads the signing keys now (call it before accepting traffic). Throws when no keys could be loaded.
    /// Does nothing when only a shared HMAC secret is configured.
    public func prefetchKeys() async throws {
        guard usesKeySet else { return }
        try await keys.prefetch()
    }

    /// Loads the signing keys if none are usable, within the JWKS rate limit and cooldowns (unlike
    /// ``prefetchKeys()``), so that a readiness probe polled every second cannot turn into a fetch every second.
    public func loadKeysWithinLimits() async {
        guard usesKeySet, keys.status.state == .absent else { return }
        await keys.refreshWithinLimits()
    }

    /// Freshness of the signing keys, for a readiness endpoint.
    public var keysStatus: KeysStatus {
        guard usesKeySet else {
            return KeysStatus(
                state: .sharedSecret,
                keyCount: hmacKey == nil ? 0 : 1,
                fetchedAt: nil,
                age: nil,
                lastError: nil
            )
        }
        return keys.status
    }

    /// Waits until a key fetch that is already running has finished (tests and tools).
    public func waitForPendingKeyFetch() async {
        await keys.waitForPendingRefresh()
    }

    /// Number of tokens currently in the verified-token cache.
    public var cachedTokenCount: Int { cache?.count ?? 0 }

    // MARK: Extraction

    private enum AuthorizationHeader {
        case bearer(String)
        case otherScheme
        case malformed
    }

    func extractToken(_ fields: HTTPFields, query: String?) throws(AuthFailure) -> String {
        let realm = configuration.realm
        var candidates: [String] = []
        var sawOtherScheme = false
        let headerValues = fields[values: .authorization]
        if headerValues.count > 1 {
            throw .invalidRequest(AuthFailureDescription.multipleCredentials, .multipleCredentials, realm: realm)
        }
        if let value = headerValues.first {
            switch Self.parseAuthorization(value) {
            case .bearer(let token): candidates.append(token)
            case .otherScheme: sawOtherScheme = true
            case .malformed:
                throw .invalidRequest(AuthFailureDescription.malformedHeader, .malformedHeader, realm: realm)
            }
        }
        if configuration.allowQueryToken, let query {
            for pair in query.split(separator: "&") where pair.hasPrefix("access_token=") {
                let raw = pair.dropFirst("access_token=".count)
                guard let token = PercentDecoding.decode(raw), Self.isB64Token(token) else {
                    throw .invalidRequest(AuthFailureDescription.malformedToken, .malformedHeader, realm: realm)
                }
                candidates.append(token)
            }
        }
        if let cookieName = configuration.tokenCookieName {
            for header in fields[values: .cookie] {
                for pair in header.split(separator: ";") {
                    let trimmed = pair.trimmingCharacters(in: .whitespaces)
                    guard trimmed.hasPrefix(cookieName + "=") else { continue }
                    let token = String(trimmed.dropFirst(cookieName.count + 1))
                    guard Self.isB64Token(token) else {
                        throw .invalidRequest(AuthFailureDescription.malformedToken, .malformedHeader, realm: realm)
                    }
                    candidates.append(token)
                }
            }
        }
        if candidates.count > 1 {
            throw .invalidRequest(AuthFailureDescription.multipleCredentials, .multipleCredentials, realm: realm)
        }
        guard let token = candidates.first else {
            throw .noCredentials(sawOtherScheme ? .unsupportedScheme : .missingCredentials, realm: realm)
        }
        return token
    }

    /// Splits `Authorization: <scheme> <credentials>` on its UTF-8 bytes, tolerating spaces and tabs (HTTP's optional
    /// whitespace) around both. Runs on every request: Foundation's `trimmingCharacters(in:)`, which bridges the
    /// whole ~1 KB header through `NSString`, cost more server CPU than the RSA check itself.
    private static func parseAuthorization(_ value: String) -> AuthorizationHeader {
        var value = value
        return value.withUTF8 { bytes -> AuthorizationHeader in
            func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var start = 0
            var end = bytes.count
            while start < end, isBlank(bytes[start]) { start += 1 }
            while end > start, isBlank(bytes[end - 1]) { end -= 1 }
            guard start < end else { return .malformed }
            var gap = start
            while gap < end, !isBlank(bytes[gap]) { gap += 1 }
            // ASCII letters only, so OR-ing 0x20 lowercases exactly the bytes that can match.
            let isBearer = gap - start == 6 && zip(bytes[start..<gap], "bearer".utf8).allSatisfy { $0 | 0x20 == $1 }
            guard gap < end else { return isBearer ? .malformed : .otherScheme }
            guard isBearer else { return .otherScheme }
            var tokenStart = gap
            while tokenStart < end, isBlank(bytes[tokenStart]) { tokenStart += 1 }
            let token = String(decoding: UnsafeBufferPointer(rebasing: bytes[tokenStart..<end]), as: UTF8.self)
            return isB64Token(token) ? .bearer(token) : .malformed
        }
    }

    /// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isB64Token(_ token: String) -> Bool {
        var sawPadding = false
        var count = 0
        for byte in token.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                if sawPadding { return false }
                count += 1
            case UInt8(ascii: "="):
                sawPadding = true
            default:
                return false
            }
        }
        return count > 0
    }

    // MARK: Verification

    private func verifyUncounted(_ token: String) async throws(AuthFailure) -> Principal {
        let realm = configuration.realm
        let now = clock.now

        var cacheKey: VerifiedTokenCache.Key?
        if let cache {
            let key = VerifiedTokenCache.key(for: token)
            if let entry = cache.entry(for: key, now: now) {
                if isKeyStillServed(entry.keyID, now: now) {
                    cacheHits.increment()
                    try await runHooks(entry.principal)
                    return entry.principal
                }
                cache.remove(key)
            }
            cacheMisses.increment()
            cacheKey = key
        }

        let utf8 = Array(token.utf8)
        guard utf8.count <= Self.maximumTokenLength,
            let firstDot = utf8.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = utf8[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            !utf8[(secondDot + 1)...].contains(UInt8(ascii: ".")),
            let headerBytes = Base64URL.decode(utf8[..<firstDot]),
            let header = JSONMembers(parsing: headerBytes),
            case .string(let alg)? = header["alg"]
        else {
            throw .invalidToken(AuthFailureDescription.malformedToken, .malformedToken, realm: realm)
        }

        // Algorithm policy comes first, before any key lookup or network call.
        var shownAlg: String { String(alg.prefix(20)) }
        guard configuration.algorithms.contains(alg), !(alg.utf8.count == 4 && alg.lowercased() == "none") else {
            throw .invalidToken(
                AuthFailureDescription.disallowedAlgorithm(shownAlg),
                .disallowedAlgorithm,
                realm: realm
            )
        }
        if header["crit"] != nil {
            // No JWS extension is understood, so a token that marks one as critical must be refused (RFC 7515 §4.1.11).
            throw .invalidToken(AuthFailureDescription.malformedToken, .malformedToken, realm: realm)
        }

        let key: VerificationKey
        var keyID: String?
        if KeyFamily.hmac.contains(alg) {
            guard let hmacKey else {
                throw .invalidToken(
                    AuthFailureDescription.disallowedAlgorithm(shownAlg),
                    .disallowedAlgorithm,
                    realm: realm
                )
            }
            key = hmacKey
        } else {
            guard case .string(let kid)? = header["kid"], !kid.isEmpty else {
                throw .invalidToken(AuthFailureDescription.missingKeyID, .unknownKey, realm: realm)
            }
            switch await keys.key(for: kid) {
            case .key(let found): key = found
            case .unknownKey: throw .invalidToken(AuthFailureDescription.unknownKey, .unknownKey, realm: realm)
            case .unavailable:
                throw .invalidToken(AuthFailureDescription.keysUnavailable, .keysUnavailable, realm: realm)
            }
            keyID = kid
        }
        guard let verifier = key.verifiers[alg] else {
            throw .invalidToken(
                AuthFailureDescription.algorithmKeyMismatch(shownAlg),
                .algorithmKeyMismatch,
                realm: realm
            )
        }
        guard let signature = Base64URL.decode(utf8[(secondDot + 1)...]), !signature.isEmpty,
            verifier.isValid(signature: signature, signingInput: utf8[..<secondDot])
        else {
            throw .invalidToken(AuthFailureDescription.badSignature, .badSignature, realm: realm)
        }
        guard let payloadBytes = Base64URL.decode(utf8[(firstDot + 1)..<secondDot]),
            let claims = JSONMembers(parsing: payloadBytes)
        else {
            throw .invalidToken(AuthFailureDescription.malformedToken, .malformedToken, realm: realm)
        }

        let principal = try ClaimValidation(
            claims: claims,
            header: header,
            configuration: configuration,
            now: clock.now
        ).principal()
        try await runHooks(principal)
        if let cache, let cacheKey {
            let limit = now.addingTimeInterval(configuration.tokenCacheTTL.timeInterval)
            cache.insert(
                .init(principal: principal, keyID: keyID, expiresAt: min(principal.expiresAt, limit)),
                for: cacheKey
            )
        }
        return principal
    }

    private func isKeyStillServed(_ keyID: String?, now: Date) -> Bool {
        guard let keyID else { return hmacKey != nil }
        guard let snapshot = keys.currentSnapshot, now < snapshot.usableUntil else { return false }
        return snapshot.keys[keyID] != nil
    }

    private func runHooks(_ principal: Principal) async throws(AuthFailure) {
        for check in claimChecks {
            if let description = check(principal) {
                throw .invalidToken(description, .claimCheckFailed, realm: configuration.realm)
            }
        }
        if let isRevoked, await isRevoked(principal, principal.tokenID) {
            throw .invalidToken(AuthFailureDescription.revoked, .revoked, realm: configuration.realm)
        }
    }

    private func count(_ failure: AuthFailure) {
        failureCounters[failure.reason]?.increment()
    }
}
