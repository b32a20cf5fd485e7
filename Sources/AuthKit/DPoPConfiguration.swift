import Foundation

/// How an authenticator treats DPoP (RFC 9449) sender-constrained tokens.
///
/// Whatever the mode, a token bound to a key (it has a `cnf` claim) is never accepted as a Bearer token: whoever
/// copied it would otherwise use it without the key.
public struct DPoPConfiguration: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// The `DPoP` scheme is not understood (a bound token cannot be used at all).
        case off
        /// Bearer tokens and DPoP-bound tokens with proofs are both accepted (the default).
        case allowed
        /// Only DPoP-bound tokens with proofs are accepted.
        case required
    }

    /// Default `allowed`.
    public var mode: Mode
    /// The `alg` values a proof may use: asymmetric only (`none` and `HS*` are never accepted).
    /// Default: `ES256`, `ES384`, `ES512`, `PS256`, `PS384`, `PS512`, `RS256`, `RS384`, `RS512`, `EdDSA`.
    public var algorithms: Set<String>
    /// How old a proof's `iat` may be (plus the clock tolerance; a future `iat` gets the tolerance only).
    /// A proof's `jti` is remembered for as long. Default 60 s.
    public var issuedAtWindow: Duration
    /// When set, proofs must carry a server-supplied `nonce` made with this secret (at least 32 bytes; replicas that
    /// share the secret accept each other's nonces). Default `nil`: no nonces.
    public var nonceSecret: [UInt8]?
    /// How long a nonce is accepted after it was issued. Default 5 min.
    public var nonceLifetime: Duration

    /// Every asymmetric algorithm AuthKit verifies.
    public static let asymmetricAlgorithms: Set<String> = [
        "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA",
    ]

    public init(
        mode: Mode = .allowed,
        algorithms: Set<String> = DPoPConfiguration.asymmetricAlgorithms,
        issuedAtWindow: Duration = .seconds(60),
        nonceSecret: [UInt8]? = nil,
        nonceLifetime: Duration = .seconds(300)
    ) {
        self.mode = mode
        self.algorithms = algorithms
        self.issuedAtWindow = issuedAtWindow
        self.nonceSecret = nonceSecret
        self.nonceLifetime = nonceLifetime
    }

    /// The `algs` parameter of a DPoP challenge: the accepted algorithms, sorted, space-separated.
    var challengeAlgorithms: String {
        algorithms.intersection(Self.asymmetricAlgorithms).sorted().joined(separator: " ")
    }
}

/// What the resource server knows of the request a DPoP proof must match.
public struct DPoPRequest: Sendable, Equatable {
    /// The HTTP method, e.g. `GET`.
    public var method: String
    /// The request's public URL (scheme, host, port and path); a query or fragment is ignored. `nil` when it cannot
    /// be known (no `Host`), which refuses every proof.
    public var url: String?

    public init(method: String, url: String?) {
        self.method = method
        self.url = url
    }
}
