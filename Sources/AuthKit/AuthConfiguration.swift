import Foundation

/// Everything a ``BearerAuthenticator`` needs to know, set once at start-up.
///
/// Only `issuer` and `audiences` are required; every other field has the default named in its comment.
public struct AuthConfiguration: Sendable {
    /// The accepted issuers, e.g. an Auth0 custom domain and the tenant domain. A token's `iss` may differ from one
    /// of them by exactly one trailing slash and nothing more. Each issuer is also the base of its own key discovery,
    /// with its own key cache, cooldowns and rate limit: a token is checked only with the keys of the issuer its
    /// `iss` names. Never empty.
    public var issuers: [String]
    /// The first of ``issuers`` (the only one in most deployments).
    public var issuer: String {
        get { issuers[0] }
        set { issuers[0] = newValue }
    }
    /// Accepted audiences: a token's `aud` (string or array) must contain at least one of them.
    public var audiences: [String]
    /// An explicit JWKS URL, used for every issuer. When `nil`, each issuer's keys are found through
    /// `ISSUER/.well-known/openid-configuration` (`jwks_uri`), falling back to `ISSUER/.well-known/jwks.json`.
    public var jwksURL: URL?
    /// The `alg` values accepted. Default `["RS256"]`. `none` is never accepted.
    public var algorithms: Set<String>
    /// The claim whose value becomes ``Principal/userID``. Default `sub`; may be a namespaced claim. A machine token
    /// (client credentials) that lacks it is identified by its `sub`; a user token that lacks it is refused.
    public var userIDClaim: String
    /// Claims read for scopes: a space-separated string or an array of strings each.
    /// Default `["scope", "permissions"]`.
    public var scopeClaims: [String]
    /// Slack allowed on `exp`, `nbf` and `iat`. Default 5 s.
    public var clockTolerance: Duration
    /// Shared secret enabling HS256/384/512 (which must also be listed in `algorithms`).
    /// When set, HS tokens are checked with it; asymmetric tokens still use the JWKS.
    public var hmacSecret: String?
    /// At most this many JWKS fetches in any 60 s window. Default 5.
    public var jwksRequestsPerMinute: Int
    /// The `realm` of every `WWW-Authenticate` header. Default `api`.
    public var realm: String

    /// Time limit of one discovery or JWKS request. Default 5 s.
    public var jwksTimeout: Duration
    /// How long a fetched key set is fresh when the response has no usable `Cache-Control: max-age`. Default 10 min.
    public var jwksCacheTTL: Duration
    /// Bounds applied to a `Cache-Control: max-age`. Default 1 min ... 24 h.
    public var jwksCacheTTLBounds: ClosedRange<Duration>
    /// After an unknown `kid` caused a fetch, the next such fetch waits at least this long. Default 30 s.
    /// Also the wait before retrying after a failed fetch.
    public var jwksCooldown: Duration
    /// How long past its freshness the last good key set keeps serving while the provider fails. Default 24 h.
    public var jwksStaleWindow: Duration
    /// Largest JWKS or discovery body accepted. Default 1 MiB.
    public var jwksMaximumBodySize: Int

    /// Entries in the verified-token cache; 0 disables it. Default 10 000.
    public var tokenCacheSize: Int
    /// Longest a verified token stays cached (never past its `exp`). Default 5 min.
    public var tokenCacheTTL: Duration

    /// Reject tokens whose `iat` is older than this. Default `nil` (no limit).
    public var maximumTokenAge: Duration?
    /// RFC 9068 JWT access-token profile: `typ` must be `at+jwt`, and `sub`, `client_id`, `jti`, `iat` are required.
    public var requireRFC9068: Bool
    /// Accept a token in the `access_token` query parameter (RFC 6750 §2.3). Default `false`.
    public var allowQueryToken: Bool
    /// Accept a token from this cookie. Default `nil` (off).
    public var tokenCookieName: String?
    /// Claims whose values a token must carry (Auth0's `claimEquals` and `claimIncludes`). Default none.
    public var requiredClaims: [RequiredClaim]
    /// Sender-constrained tokens (RFC 9449). Default: DPoP allowed, with the defaults of ``DPoPConfiguration``.
    public var dpop: DPoPConfiguration

    /// A configuration with every default.
    public init(issuer: String, audiences: [String]) {
        self.init(issuers: [issuer], audiences: audiences)
    }

    /// A configuration with every default accepting tokens of several issuers (at least one).
    public init(issuers: [String], audiences: [String]) {
        precondition(!issuers.isEmpty, "AuthConfiguration needs at least one issuer")
        self.issuers = issuers
        self.audiences = audiences
        self.jwksURL = nil
        self.algorithms = ["RS256"]
        self.userIDClaim = "sub"
        self.scopeClaims = ["scope", "permissions"]
        self.clockTolerance = .seconds(5)
        self.hmacSecret = nil
        self.jwksRequestsPerMinute = 5
        self.realm = "api"
        self.jwksTimeout = .seconds(5)
        self.jwksCacheTTL = .seconds(600)
        self.jwksCacheTTLBounds = .seconds(60) ... .seconds(86_400)
        self.jwksCooldown = .seconds(30)
        self.jwksStaleWindow = .seconds(86_400)
        self.jwksMaximumBodySize = 1 << 20
        self.tokenCacheSize = 10_000
        self.tokenCacheTTL = .seconds(300)
        self.maximumTokenAge = nil
        self.requireRFC9068 = false
        self.allowQueryToken = false
        self.tokenCookieName = nil
        self.requiredClaims = []
        self.dpop = DPoPConfiguration()
    }

    /// A configuration for HS256 tokens signed with a shared secret (no key fetching at all).
    public init(issuer: String, audiences: [String], hmacSecret: String) {
        self.init(issuer: issuer, audiences: audiences)
        self.hmacSecret = hmacSecret
        self.algorithms = ["HS256"]
    }

    /// `true` when `candidate` equals one of the configured issuers once one trailing slash (if any) is removed from
    /// each: `https://a/` matches `https://a`, but `https://a//` matches neither.
    public func issuerMatches(_ candidate: String) -> Bool {
        issuerIndex(of: candidate) != nil
    }

    /// The position in ``issuers`` of the issuer `candidate` names (see ``issuerMatches(_:)``), or `nil`.
    public func issuerIndex(of candidate: String) -> Int? {
        issuers.firstIndex { Self.sameIssuer(candidate, $0) }
    }

    /// One trailing slash of difference, nothing more.
    static func sameIssuer(_ candidate: String, _ issuer: String) -> Bool {
        func trimmed(_ text: String) -> Substring { text.hasSuffix("/") ? text.dropLast() : text[...] }
        return candidate == issuer || trimmed(candidate) == trimmed(issuer)
    }

    /// `localhost`, `::1`, or an IPv4 literal in 127.0.0.0/8 (not a name such as `127.evil.example`): the hosts that
    /// may be reached over plain http.
    public static func isLoopbackHost(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { $0.count <= 3 && UInt8($0) != nil }
    }

    /// An issuer without its trailing slash, the base for `.well-known` paths.
    static func base(of issuer: String) -> String {
        issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
    }
}

/// Where AuthKit reads the time. Inject one in tests to move time forward without sleeping.
public struct AuthClock: Sendable {
    private let read: @Sendable () -> Date

    /// A clock that reads `now` from the closure.
    public init(_ now: @escaping @Sendable () -> Date) {
        self.read = now
    }

    /// The current time.
    public var now: Date { read() }

    /// The system's wall clock.
    public static let system = AuthClock { Date() }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    package var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
