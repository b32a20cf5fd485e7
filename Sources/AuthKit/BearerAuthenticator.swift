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
    /// One key manager per issuer, in the order of ``AuthConfiguration/issuers``.
    private let keys: [KeySetManager]
    private let proofs: DPoPProofVerifier
    private let replayStore: any DPoPReplayStore
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
    /// The `algs` of a DPoP challenge, made once: every authentication used to sort and join it again, although only
    /// a refusal sends it.
    private let challengeAlgorithms: String

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
    ///   - replayStore: Where accepted DPoP proofs are remembered; share one between replicas. Default: this
    ///     process's memory (``InMemoryDPoPReplayStore``).
    public init(
        configuration: AuthConfiguration,
        httpClient: HTTPClient,
        logger: Logger,
        clock: AuthClock = .system,
        isRevoked: RevocationCheck? = nil,
        claimChecks: [ClaimCheck] = [],
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        replayStore: (any DPoPReplayStore)? = nil
    ) {
        self.configuration = configuration
        self.keys = configuration.issuers.map { issuer in
            KeySetManager(
                configuration: configuration,
                issuer: issuer,
                httpClient: httpClient,
                clock: clock,
                logger: logger,
                metricsFactory: metricsFactory
            )
        }
        self.proofs = DPoPProofVerifier(configuration: configuration.dpop, clockTolerance: configuration.clockTolerance)
        self.challengeAlgorithms = configuration.dpop.challengeAlgorithms
        self.replayStore = replayStore ?? InMemoryDPoPReplayStore()
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
    ///   - request: The request's method and public URL, which a DPoP proof must name. Without it a DPoP proof
    ///     cannot match, so only Bearer tokens can succeed.
    public func authenticate(
        _ fields: HTTPFields,
        query: String? = nil,
        request: DPoPRequest? = nil
    ) async throws(AuthFailure) -> Principal {
        do {
            return try await authenticateUncounted(fields, query: query, request: request)
        } catch {
            count(error)
            throw error
        }
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

    /// Loads every issuer's signing keys now, at once (call it before accepting traffic). Throws when some issuer's
    /// keys could not be loaded, naming it. Does nothing when only a shared HMAC secret is configured.
    public func prefetchKeys() async throws {
        guard usesKeySet else { return }
        let failures = await withTaskGroup(of: String?.self) { group in
            for manager in keys {
                group.addTask {
                    do {
                        try await manager.prefetch()
                        return nil
                    } catch {
                        return "\(manager.issuer): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for await case let failure? in group { failures.append(failure) }
            return failures.sorted()
        }
        if !failures.isEmpty {
            throw KeySetManager.FetchError(description: failures.joined(separator: "; "))
        }
    }

    /// Loads the signing keys of every issuer that has none usable, within the JWKS rate limit and cooldowns (unlike
    /// ``prefetchKeys()``), so that a readiness probe polled every second cannot turn into a fetch every second.
    public func loadKeysWithinLimits() async {
        guard usesKeySet else { return }
        await withTaskGroup(of: Void.self) { group in
            for manager in keys where manager.status.state == .absent {
                group.addTask { await manager.refreshWithinLimits() }
            }
        }
    }

    /// Freshness of the signing keys, for a readiness endpoint: the first issuer whose keys are absent, else the
    /// first issuer's (see ``keysStatus(ofIssuerAt:)`` for each issuer).
    public var keysStatus: KeysStatus {
        let all = configuration.issuers.indices.map(keysStatus(ofIssuerAt:))
        return all.first { $0.state == .absent } ?? all[0]
    }

    /// Freshness of the signing keys of the issuer at `index` in ``AuthConfiguration/issuers``.
    public func keysStatus(ofIssuerAt index: Int) -> KeysStatus {
        guard usesKeySet else {
            return KeysStatus(
                state: .sharedSecret,
                keyCount: hmacKey == nil ? 0 : 1,
                fetchedAt: nil,
                age: nil,
                lastError: nil
            )
        }
        return keys[index].status
    }

    /// Waits until the key fetches that are already running have finished (tests and tools).
    public func waitForPendingKeyFetch() async {
        for manager in keys { await manager.waitForPendingRefresh() }
    }

    /// Number of tokens currently in the verified-token cache.
    public var cachedTokenCount: Int { cache?.count ?? 0 }

    // MARK: Extraction

    /// The scheme an access token came with.
    enum CredentialScheme: Equatable {
        case bearer
        case dpop
    }

    private enum AuthorizationHeader {
        case token(String, CredentialScheme)
        case otherScheme
        case malformed
    }

    /// The challenge scheme of failures before a scheme is known: DPoP when only DPoP is accepted.
    private var defaultScheme: AuthFailure.Scheme {
        configuration.dpop.mode == .required ? dpopScheme : .bearer
    }

    private var dpopScheme: AuthFailure.Scheme { .dpop(algorithms: challengeAlgorithms) }

    func extractToken(_ fields: HTTPFields, query: String?) throws(AuthFailure) -> String {
        try extractCredentials(fields, query: query).token
    }

    func extractCredentials(
        _ fields: HTTPFields,
        query: String?
    ) throws(AuthFailure) -> (token: String, scheme: CredentialScheme) {
        let realm = configuration.realm
        var candidates: [String] = []
        var scheme = CredentialScheme.bearer
        var sawOtherScheme = false
        let headerValues = fields[values: .authorization]
        if headerValues.count > 1 {
            throw .invalidRequest(
                AuthFailureDescription.multipleCredentials,
                .multipleCredentials,
                realm: realm,
                scheme: defaultScheme
            )
        }
        if let value = headerValues.first {
            switch Self.parseAuthorization(value, acceptsDPoP: configuration.dpop.mode != .off) {
            case .token(let token, let found):
                candidates.append(token)
                scheme = found
            case .otherScheme: sawOtherScheme = true
            case .malformed:
                throw .invalidRequest(
                    AuthFailureDescription.malformedHeader,
                    .malformedHeader,
                    realm: realm,
                    scheme: defaultScheme
                )
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
            throw .invalidRequest(
                AuthFailureDescription.multipleCredentials,
                .multipleCredentials,
                realm: realm,
                scheme: defaultScheme
            )
        }
        guard let token = candidates.first else {
            throw .noCredentials(
                sawOtherScheme ? .unsupportedScheme : .missingCredentials,
                realm: realm,
                scheme: defaultScheme
            )
        }
        return (token, scheme)
    }

    /// Splits `Authorization: <scheme> <credentials>` on its UTF-8 bytes, tolerating spaces and tabs (HTTP's optional
    /// whitespace) around both. Runs on every request: Foundation's `trimmingCharacters(in:)`, which bridges the
    /// whole ~1 KB header through `NSString`, cost more server CPU than the RSA check itself.
    private static func parseAuthorization(_ value: String, acceptsDPoP: Bool) -> AuthorizationHeader {
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
            let isDPoP =
                acceptsDPoP && gap - start == 4 && zip(bytes[start..<gap], "dpop".utf8).allSatisfy { $0 | 0x20 == $1 }
            guard gap < end else { return isBearer || isDPoP ? .malformed : .otherScheme }
            guard isBearer || isDPoP else { return .otherScheme }
            var tokenStart = gap
            while tokenStart < end, isBlank(bytes[tokenStart]) { tokenStart += 1 }
            let tokenBytes = UnsafeBufferPointer(rebasing: bytes[tokenStart..<end])
            guard isB64Token(tokenBytes) else { return .malformed }
            return .token(String(decoding: tokenBytes, as: UTF8.self), isDPoP ? .dpop : .bearer)
        }
    }

    /// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isB64Token(_ token: String) -> Bool {
        var token = token
        return token.withUTF8 { isB64Token($0) }
    }

    /// ``isB64Token(_:)`` on UTF-8 bytes: a token is about a kilobyte and checked on every request, and a loop over
    /// contiguous bytes costs a fraction of one over `String.utf8`.
    static func isB64Token(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        var sawPadding = false
        var count = 0
        for byte in token {
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

    // MARK: DPoP

    private func authenticateUncounted(
        _ fields: HTTPFields,
        query: String?,
        request: DPoPRequest?
    ) async throws(AuthFailure) -> Principal {
        let credentials = try extractCredentials(fields, query: query)
        let realm = configuration.realm
        let algorithms = challengeAlgorithms
        switch credentials.scheme {
        case .bearer:
            if configuration.dpop.mode == .required {
                throw .dpop(
                    "invalid_token",
                    DPoPFailureDescription.required,
                    .dpopRequired,
                    realm: realm,
                    algorithms: algorithms
                )
            }
            let principal = try await verifyUncounted(credentials.token)
            // RFC 9449 §7.2: a bound token sent as a bearer token is refused, or whoever copied it could use it.
            if principal.isSenderConstrained {
                throw .dpop(
                    "invalid_token",
                    DPoPFailureDescription.boundTokenAsBearer,
                    .dpopBoundTokenAsBearer,
                    realm: realm,
                    algorithms: algorithms
                )
            }
            return principal
        case .dpop:
            let principal: Principal
            do {
                principal = try await verifyUncounted(credentials.token)
            } catch {
                throw error.with(scheme: dpopScheme)
            }
            try await checkProof(fields, token: credentials.token, principal: principal, request: request)
            return principal
        }
    }

    /// RFC 9449 §4.3 and §7.1: one proof, valid for this request and token, made with the key the token is bound to,
    /// and never accepted before (by any replica sharing the replay store).
    private func checkProof(
        _ fields: HTTPFields,
        token: String,
        principal: Principal,
        request: DPoPRequest?
    ) async throws(AuthFailure) {
        let realm = configuration.realm
        let algorithms = challengeAlgorithms
        let now = clock.now
        func proofFailure(_ description: String, _ reason: AuthFailure.Reason) -> AuthFailure {
            let code: String
            var nonce: String?
            switch reason {
            case .dpopNonceRequired:
                code = "use_dpop_nonce"
                nonce = proofs.freshNonce(now: now)
            case .dpopKeyMismatch, .tokenNotDPoPBound: code = "invalid_token"
            default: code = "invalid_dpop_proof"
            }
            return .dpop(code, description, reason, realm: realm, algorithms: algorithms, nonce: nonce)
        }
        guard let thumbprint = principal.confirmationThumbprint else {
            throw proofFailure(DPoPFailureDescription.notBound, .tokenNotDPoPBound)
        }
        let proofValues = fields[values: Self.dpopField]
        guard proofValues.count <= 1 else {
            throw proofFailure(DPoPFailureDescription.multipleProofs, .invalidDPoPProof)
        }
        guard let proofText = proofValues.first else {
            throw proofFailure(DPoPFailureDescription.missingProof, .invalidDPoPProof)
        }
        let proof: VerifiedDPoPProof
        do {
            proof = try proofs.verify(
                proof: proofText,
                request: request ?? DPoPRequest(method: "", url: nil),
                accessToken: token,
                now: now
            )
        } catch {
            throw proofFailure(error.description, error.reason)
        }
        guard proof.thumbprint == thumbprint else {
            throw proofFailure(DPoPFailureDescription.keyMismatch, .dpopKeyMismatch)
        }
        let fresh: Bool
        do {
            fresh = try await replayStore.recordFirstUse(
                of: proof.replayKey,
                expiresAt: proofs.replayExpiry(of: proof),
                now: now
            )
        } catch {
            logger.error("DPoP replay store failed", metadata: ["error": "\(String(reflecting: error))"])
            throw proofFailure(DPoPFailureDescription.replayStoreUnavailable, .replayStoreUnavailable)
        }
        guard fresh else { throw proofFailure(DPoPFailureDescription.replayed, .dpopProofReplayed) }
    }

    /// The `DPoP` request header.
    static let dpopField = HTTPField.Name("DPoP")!

    // MARK: Verification

    private func verifyUncounted(_ token: String) async throws(AuthFailure) -> Principal {
        let realm = configuration.realm
        let now = clock.now

        var cacheKey: VerifiedTokenCache.Key?
        if let cache {
            let key = VerifiedTokenCache.key(for: token)
            if let entry = cache.entry(for: key, now: now) {
                if isKeyStillServed(entry.keyID, issuerIndex: entry.issuerIndex, now: now) {
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

        // With several issuers the token's `iss` picks whose keys may check it, before any key lookup: a `kid` that
        // two issuers both publish never lets one issuer's key vouch for another's token.
        var issuerIndex = 0
        var parsedClaims: JSONMembers?
        if keys.count > 1 {
            guard let payloadBytes = Base64URL.decode(utf8[(firstDot + 1)..<secondDot]),
                let claims = JSONMembers(parsing: payloadBytes)
            else {
                throw .invalidToken(AuthFailureDescription.malformedToken, .malformedToken, realm: realm)
            }
            switch claims["iss"] {
            case nil:
                throw .invalidToken(AuthFailureDescription.missingClaim("iss"), .wrongIssuer, realm: realm)
            case .string(let issuer):
                guard let index = configuration.issuerIndex(of: issuer) else {
                    throw .invalidToken(AuthFailureDescription.wrongIssuer, .wrongIssuer, realm: realm)
                }
                issuerIndex = index
            default:
                throw .invalidToken(AuthFailureDescription.invalidClaim("iss"), .malformedClaims, realm: realm)
            }
            parsedClaims = claims
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
            switch await keys[issuerIndex].key(for: kid) {
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
        guard
            let claims = parsedClaims
                ?? Base64URL.decode(utf8[(firstDot + 1)..<secondDot]).flatMap({ JSONMembers(parsing: $0) })
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
                .init(
                    principal: principal,
                    keyID: keyID,
                    issuerIndex: issuerIndex,
                    expiresAt: min(principal.expiresAt, limit)
                ),
                for: cacheKey
            )
        }
        return principal
    }

    private func isKeyStillServed(_ keyID: String?, issuerIndex: Int, now: Date) -> Bool {
        guard let keyID else { return hmacKey != nil }
        guard let snapshot = keys[issuerIndex].currentSnapshot, now < snapshot.usableUntil else { return false }
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
