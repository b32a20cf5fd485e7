import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// The freshness of the verification keys, for a readiness check.
public struct KeysStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        /// No keys have been loaded (or the last good ones are past the stale window).
        case absent
        /// Keys are within their cache lifetime.
        case fresh
        /// The provider could not be reached; the last good keys still serve, within the stale window.
        case stale
        /// Only a shared HMAC secret is used: nothing to fetch.
        case sharedSecret = "shared_secret"
    }

    public let state: State
    /// Usable keys in the current set.
    public let keyCount: Int
    /// When the current set was fetched.
    public let fetchedAt: Date?
    /// How old the current set is.
    public let age: Duration?
    /// The last fetch error, if the last fetch failed.
    public let lastError: String?

    /// `true` when tokens can be verified: keys fresh or stale-but-usable, or a shared secret.
    public var isReady: Bool { state != .absent }
}

/// Fetches and caches one issuer's JWKS. With several issuers each has its own manager: its own discovery, cache,
/// cooldowns and rate limit, so a busy or failing issuer never spends another's budget, and a `kid` found at one
/// issuer is never used for a token of another.
///
/// Readers take the current immutable ``KeySnapshot`` under a `Mutex` held for one reference copy, so
/// verification never waits on a fetch, never hops through an actor, and scales with cores. Fetches are
/// single-flight: every caller that needs one while it runs awaits the same task.
final class KeySetManager: Sendable {
    enum Trigger: Equatable {
        case initial, expired, unknownKey, prefetch
    }

    enum Lookup {
        case key(VerificationKey)
        case unknownKey
        case unavailable
    }

    struct FetchError: Error, CustomStringConvertible {
        let description: String
    }

    private struct State {
        var inFlight: Task<Void, Never>?
        var fetchTimes: [Date] = []
        var lastUnknownKeyFetch: Date?
        var lastFailure: Date?
        var lastError: String?
        var discoveredJWKSURL: String?
    }

    private let snapshot = Mutex<KeySnapshot?>(nil)
    private let state = Mutex(State())
    private let configuration: AuthConfiguration
    /// The issuer whose keys this manager holds, exactly as configured.
    let issuer: String
    private let httpClient: HTTPClient
    private let clock: AuthClock
    private let logger: Logger
    private let fetchCounterSuccess: Counter
    private let fetchCounterFailure: Counter
    private let staleGauge: Gauge

    init(
        configuration: AuthConfiguration,
        issuer: String? = nil,
        httpClient: HTTPClient,
        clock: AuthClock,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        let issuer = issuer ?? configuration.issuer
        self.fetchCounterSuccess = Counter(
            label: "authkit_jwks_fetches_total",
            dimensions: [("result", "success"), ("issuer", issuer)],
            factory: metricsFactory
        )
        self.fetchCounterFailure = Counter(
            label: "authkit_jwks_fetches_total",
            dimensions: [("result", "failure"), ("issuer", issuer)],
            factory: metricsFactory
        )
        self.staleGauge = Gauge(label: "authkit_jwks_stale", dimensions: [("issuer", issuer)], factory: metricsFactory)
        self.issuer = issuer
        self.configuration = configuration
        self.httpClient = httpClient
        self.clock = clock
        self.logger = logger
    }

    var currentSnapshot: KeySnapshot? { snapshot.withLock { $0 } }

    /// The key for `kid`, fetching the key set when it is missing, expired or lacks the kid (within the limits).
    func key(for kid: String) async -> Lookup {
        let now = clock.now
        if let current = currentSnapshot, now < current.freshUntil, let key = current.keys[kid] {
            return .key(key)
        }
        return await slowKey(for: kid, now: now)
    }

    private func slowKey(for kid: String, now: Date) async -> Lookup {
        let current = currentSnapshot
        if let current, now < current.usableUntil {
            if now >= current.freshUntil {
                // Stale-while-revalidate: a known key answers at once while one fetch refreshes the set.
                let refresh = startRefresh(.expired, now: now)
                if let key = current.keys[kid] {
                    return .key(key)
                }
                await refresh?.value
            } else {
                await startRefresh(.unknownKey, now: now)?.value
            }
        } else {
            await startRefresh(.initial, now: now)?.value
        }
        guard let latest = currentSnapshot, clock.now < latest.usableUntil else { return .unavailable }
        return latest.keys[kid].map(Lookup.key) ?? .unknownKey
    }

    /// Loads the keys unless a fetch is running (then waits for it) or the rate limit or a cooldown forbids one.
    func refreshWithinLimits() async {
        await startRefresh(.initial, now: clock.now)?.value
    }

    /// Loads the keys now, ignoring cooldowns (not single-flight bypass: it joins a fetch already running).
    func prefetch() async throws {
        await startRefresh(.prefetch, now: clock.now)?.value
        let error = state.withLock { $0.lastError }
        guard let current = currentSnapshot, clock.now < current.usableUntil, error == nil else {
            throw FetchError(description: error ?? "no keys")
        }
    }

    /// Waits for a fetch already running, if any.
    func waitForPendingRefresh() async {
        await state.withLock { $0.inFlight }?.value
    }

    var status: KeysStatus {
        let now = clock.now
        let error = state.withLock { $0.lastError }
        guard let current = currentSnapshot, now < current.usableUntil else {
            return KeysStatus(state: .absent, keyCount: 0, fetchedAt: nil, age: nil, lastError: error)
        }
        let age = Duration.milliseconds(Int64(now.timeIntervalSince(current.fetchedAt) * 1000))
        return KeysStatus(
            state: now < current.freshUntil ? .fresh : .stale,
            keyCount: current.keys.count,
            fetchedAt: current.fetchedAt,
            age: age,
            lastError: error
        )
    }

    // MARK: Fetching

    /// Starts a fetch unless one is running (then returns it) or the limits forbid one (then returns `nil`).
    private func startRefresh(_ trigger: Trigger, now: Date) -> Task<Void, Never>? {
        let perMinute = configuration.jwksRequestsPerMinute
        let cooldown = configuration.jwksCooldown.timeInterval
        let outcome: (task: Task<Void, Never>?, refusal: String?) = state.withLock { state in
            if let running = state.inFlight { return (running, nil) }
            state.fetchTimes.removeAll { now.timeIntervalSince($0) >= 60 }
            if trigger != .prefetch {
                if state.fetchTimes.count >= perMinute { return (nil, "rate limit of \(perMinute) per minute reached") }
                if let failure = state.lastFailure, now.timeIntervalSince(failure) < cooldown {
                    return (nil, "waiting after a failed fetch")
                }
                if trigger == .unknownKey, let last = state.lastUnknownKeyFetch, now.timeIntervalSince(last) < cooldown
                {
                    return (nil, "unknown-kid cooldown")
                }
            }
            state.fetchTimes.append(now)
            if trigger == .unknownKey { state.lastUnknownKeyFetch = now }
            // Unstructured on purpose: the fetch is shared by every waiting request, so no single caller's
            // cancellation may cancel it. It is bounded by `jwksTimeout`.
            let task = Task { await self.fetchAndInstall(trigger) }
            state.inFlight = task
            return (task, nil)
        }
        if let refusal = outcome.refusal {
            logger.debug("JWKS fetch skipped", metadata: ["reason": "\(refusal)", "trigger": "\(trigger)"])
        }
        return outcome.task
    }

    private func fetchAndInstall(_ trigger: Trigger) async {
        do {
            let (body, maxAge) = try await fetchJWKS()
            guard
                let keys = JWKSParser.parse(
                    body.readableBytesView,
                    allowedAlgorithms: configuration.algorithms,
                    logger: logger
                )
            else {
                throw FetchError(description: "the response is not a JWKS document")
            }
            guard !keys.isEmpty else { throw FetchError(description: "the JWKS holds no usable key") }
            let now = clock.now
            let bounds = configuration.jwksCacheTTLBounds
            let ttl = maxAge.map { min(max($0, bounds.lowerBound), bounds.upperBound) } ?? configuration.jwksCacheTTL
            let freshUntil = now.addingTimeInterval(ttl.timeInterval)
            let installed = KeySnapshot(
                keys: keys,
                fetchedAt: now,
                freshUntil: freshUntil,
                usableUntil: freshUntil.addingTimeInterval(configuration.jwksStaleWindow.timeInterval)
            )
            snapshot.withLock { $0 = installed }
            state.withLock { state in
                state.lastFailure = nil
                state.lastError = nil
                state.inFlight = nil
            }
            fetchCounterSuccess.increment()
            staleGauge.record(0)
            logger.info(
                "JWKS loaded",
                metadata: [
                    "keys": "\(keys.keys.sorted().joined(separator: ","))", "ttl": "\(ttl)", "trigger": "\(trigger)",
                    "issuer": "\(issuer)",
                ]
            )
        } catch {
            let now = clock.now
            state.withLock { state in
                state.lastFailure = now
                state.lastError = "\(error)"
                state.discoveredJWKSURL = nil
                state.inFlight = nil
            }
            fetchCounterFailure.increment()
            if let current = currentSnapshot, now < current.usableUntil {
                staleGauge.record(1)
                logger.warning(
                    "JWKS fetch failed; serving the last good keys",
                    metadata: [
                        "error": "\(error)", "fetchedAt": "\(current.fetchedAt)",
                        "usableUntil": "\(current.usableUntil)",
                    ]
                )
            } else {
                logger.error(
                    "JWKS fetch failed and no usable keys are cached",
                    metadata: ["error": "\(error)", "issuer": "\(issuer)"]
                )
            }
        }
    }

    /// The JWKS body and its `max-age`, from the explicit URL, the discovered `jwks_uri`, or
    /// `ISSUER/.well-known/jwks.json`.
    private func fetchJWKS() async throws -> (ByteBuffer, Duration?) {
        let deadline = NIODeadline.now() + .nanoseconds(Int64(configuration.jwksTimeout.timeInterval * 1e9))
        let url: String
        if let explicit = configuration.jwksURL {
            url = explicit.absoluteString
        } else if let discovered = state.withLock({ $0.discoveredJWKSURL }) {
            url = discovered
        } else {
            url = try await discoverJWKSURL(deadline: deadline)
            state.withLock { $0.discoveredJWKSURL = url }
        }
        let (status, body, cacheControl) = try await get(url, deadline: deadline)
        guard status == 200 else { throw FetchError(description: "GET \(url) answered \(status)") }
        return (body, cacheControl.flatMap(Self.maxAge))
    }

    private func discoverJWKSURL(deadline: NIODeadline) async throws -> String {
        let base = AuthConfiguration.base(of: issuer)
        let fallback = base + "/.well-known/jwks.json"
        let discoveryURL = base + "/.well-known/openid-configuration"
        let (status, body, _) = try await get(discoveryURL, deadline: deadline)
        guard status == 200 else {
            logger.debug("No OpenID discovery document; using the Auth0 JWKS path", metadata: ["status": "\(status)"])
            return fallback
        }
        guard let document = JSONClaimValue(parsing: body.readableBytesView),
            let jwksURI = document["jwks_uri"]?.stringValue
        else {
            logger.warning("OpenID discovery document has no jwks_uri; using the Auth0 JWKS path")
            return fallback
        }
        // The discovery document decides where keys come from, so it must be the issuer's own: a document that
        // names another issuer, or keys on another host or over plain http, would let whoever answers the discovery
        // request choose the keys tokens are checked with.
        let named = document["issuer"]?.stringValue ?? "(none)"
        guard AuthConfiguration.sameIssuer(named, issuer) else {
            throw FetchError(
                description: "the discovery document names issuer '\(named)', not the configured '\(issuer)'"
            )
        }
        guard let keysURL = URL(string: jwksURI), let keysHost = keysURL.host,
            keysURL.scheme == "https" || (keysURL.scheme == "http" && AuthConfiguration.isLoopbackHost(keysHost))
        else {
            throw FetchError(
                description:
                    "the discovered jwks_uri '\(jwksURI)' is not an https URL (http is allowed for loopback only)"
            )
        }
        guard let issuerURL = URL(string: issuer), Self.origin(of: keysURL) == Self.origin(of: issuerURL)
        else {
            throw FetchError(
                description:
                    "the discovered jwks_uri '\(jwksURI)' is not on the issuer's origin (scheme, host and port); "
                    + "set AUTH_JWKS_URL to use it"
            )
        }
        return jwksURI
    }

    /// Scheme, lower-cased host and port (the scheme's default when absent).
    static func origin(of url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : -1)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }

    private func get(_ url: String, deadline: NIODeadline) async throws -> (Int, ByteBuffer, String?) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await httpClient.execute(request, deadline: deadline, logger: logger)
        let body = try await response.body.collect(upTo: configuration.jwksMaximumBodySize)
        return (Int(response.status.code), body, response.headers.first(name: "Cache-Control"))
    }

    /// `max-age` of a `Cache-Control` value; `no-store`/`no-cache` count as zero (then the lower bound applies).
    static func maxAge(_ cacheControl: String) -> Duration? {
        for directive in cacheControl.split(separator: ",") {
            let trimmed = directive.trimmingCharacters(in: .whitespaces).lowercased()
            if trimmed == "no-store" || trimmed == "no-cache" { return .zero }
            if trimmed.hasPrefix("max-age="), let seconds = Int64(trimmed.dropFirst("max-age=".count)), seconds >= 0 {
                return .seconds(seconds)
            }
        }
        return nil
    }
}
