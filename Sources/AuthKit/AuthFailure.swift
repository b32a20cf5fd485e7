/// Why a request was not authenticated or authorized, as a value the server renders.
///
/// The `wwwAuthenticate` string is the exact `WWW-Authenticate` header value (RFC 6750 §3):
///
/// | situation | status | header |
/// | --- | --- | --- |
/// | no credentials, or another scheme | 401 | `Bearer realm="api"` |
/// | malformed request | 400 | `Bearer realm="api", error="invalid_request", error_description="…"` |
/// | bad token | 401 | `Bearer realm="api", error="invalid_token", error_description="…"` |
/// | missing scope | 403 | `Bearer realm="api", error="insufficient_scope", error_description="…", scope="a b"` |
///
/// A missing scope's description is `Insufficient scope`, and `scope` lists the scopes the request needed.
///
/// Descriptions are fixed English sentences (see ``AuthFailure/Reason``); double quotes and backslashes in them
/// are escaped as quoted-pairs and any byte outside printable ASCII becomes `?`, so the header is always valid.
public struct AuthFailure: Error, Sendable, Equatable {
    /// A stable code for logs and metrics.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case missingCredentials = "missing_credentials"
        case unsupportedScheme = "unsupported_scheme"
        case malformedHeader = "malformed_header"
        case multipleCredentials = "multiple_credentials"
        case malformedToken = "malformed_token"
        case malformedClaims = "malformed_claims"
        case missingClaim = "missing_claim"
        case expired
        case notYetValid = "not_yet_valid"
        case issuedInFuture = "issued_in_future"
        case tooOld = "too_old"
        case badSignature = "bad_signature"
        case unknownKey = "unknown_key"
        case wrongIssuer = "wrong_issuer"
        case wrongAudience = "wrong_audience"
        case wrongType = "wrong_type"
        case disallowedAlgorithm = "disallowed_algorithm"
        case algorithmKeyMismatch = "algorithm_key_mismatch"
        case revoked
        case claimCheckFailed = "claim_check_failed"
        case keysUnavailable = "keys_unavailable"
        case insufficientScope = "insufficient_scope"
        case unexpectedClaimValue = "unexpected_claim_value"
        /// A DPoP proof failed one of RFC 9449's checks (see ``AuthFailureDescription``).
        case invalidDPoPProof = "invalid_dpop_proof"
        /// A DPoP proof whose `jti` was already accepted (here or at another replica sharing the store).
        case dpopProofReplayed = "dpop_proof_replayed"
        /// Server-supplied nonces are on and the proof had none, or a stale one.
        case dpopNonceRequired = "use_dpop_nonce"
        /// A token bound to a key (`cnf.jkt`) was sent as a Bearer token.
        case dpopBoundTokenAsBearer = "dpop_bound_token_as_bearer"
        /// `required` mode and a Bearer token.
        case dpopRequired = "dpop_required"
        /// The DPoP scheme with a token that has no `cnf.jkt`.
        case tokenNotDPoPBound = "token_not_dpop_bound"
        /// The proof's key is not the key the token is bound to.
        case dpopKeyMismatch = "dpop_key_mismatch"
        /// The replay store could not be asked; a server may prefer to answer 503 for that reason.
        case replayStoreUnavailable = "replay_store_unavailable"
    }

    /// The authentication scheme a failure's challenge names.
    public enum Scheme: Sendable, Equatable {
        /// `Bearer` (RFC 6750).
        case bearer
        /// `DPoP` (RFC 9449), with the proof algorithms accepted (`algs`, space-separated).
        case dpop(algorithms: String)
    }

    /// 400, 401 or 403.
    public let status: Int
    /// `invalid_request`, `invalid_token`, `insufficient_scope`, or `nil` when no credentials were offered.
    public let code: String?
    /// Human text, also sent as `error_description`.
    public let description: String?
    /// Stable reason for logs and metrics.
    public let reason: Reason
    /// The scopes a 403 asked for, space-separated and sorted; `nil` otherwise.
    public let requiredScope: String?
    /// The exact `WWW-Authenticate` header value.
    public let wwwAuthenticate: String
    /// The realm the challenge names.
    let realm: String
    /// A fresh nonce to send as the `DPoP-Nonce` response header (with `use_dpop_nonce`), else `nil`.
    public let dpopNonce: String?

    init(
        status: Int,
        code: String?,
        description: String?,
        reason: Reason,
        requiredScope: String? = nil,
        realm: String,
        scheme: Scheme = .bearer,
        dpopNonce: String? = nil
    ) {
        self.status = status
        self.code = code
        self.description = description
        self.reason = reason
        self.requiredScope = requiredScope
        self.dpopNonce = dpopNonce
        self.realm = realm
        var header: String
        switch scheme {
        case .bearer: header = "Bearer realm=\(Self.quoted(realm))"
        case .dpop: header = "DPoP realm=\(Self.quoted(realm))"
        }
        if let code {
            header += ", error=\(Self.quoted(code))"
            if let description { header += ", error_description=\(Self.quoted(description))" }
            if let requiredScope { header += ", scope=\(Self.quoted(requiredScope))" }
        }
        if case .dpop(let algorithms) = scheme { header += ", algs=\(Self.quoted(algorithms))" }
        self.wwwAuthenticate = header
    }

    /// A 401 with the DPoP challenge: `invalid_dpop_proof`, `invalid_token` or `use_dpop_nonce`.
    static func dpop(
        _ code: String,
        _ description: String,
        _ reason: Reason,
        realm: String,
        algorithms: String,
        nonce: String? = nil
    ) -> AuthFailure {
        AuthFailure(
            status: 401,
            code: code,
            description: description,
            reason: reason,
            realm: realm,
            scheme: .dpop(algorithms: algorithms),
            dpopNonce: nonce
        )
    }

    /// 401 with no error attributes: the client sent no bearer credentials at all.
    static func noCredentials(_ reason: Reason, realm: String, scheme: Scheme = .bearer) -> AuthFailure {
        AuthFailure(status: 401, code: nil, description: nil, reason: reason, realm: realm, scheme: scheme)
    }

    /// 400 `invalid_request`.
    static func invalidRequest(
        _ description: String,
        _ reason: Reason,
        realm: String,
        scheme: Scheme = .bearer
    ) -> AuthFailure {
        AuthFailure(
            status: 400,
            code: "invalid_request",
            description: description,
            reason: reason,
            realm: realm,
            scheme: scheme
        )
    }

    /// 401 `invalid_token`.
    static func invalidToken(_ description: String, _ reason: Reason, realm: String) -> AuthFailure {
        AuthFailure(status: 401, code: "invalid_token", description: description, reason: reason, realm: realm)
    }

    /// 403 `insufficient_scope`, naming the scopes a resource needs (also for callers that check scopes themselves,
    /// so every 403 carries the same challenge).
    public static func insufficientScope(_ scopes: Set<String>, realm: String) -> AuthFailure {
        AuthFailure(
            status: 403,
            code: "insufficient_scope",
            description: "Insufficient scope",
            reason: .insufficientScope,
            requiredScope: scopes.sorted().joined(separator: " "),
            realm: realm
        )
    }

    /// The same failure under another challenge scheme (a token sent with `DPoP` is refused with a DPoP challenge).
    func with(scheme: Scheme) -> AuthFailure {
        AuthFailure(
            status: status,
            code: code,
            description: description,
            reason: reason,
            requiredScope: requiredScope,
            realm: realm,
            scheme: scheme,
            dpopNonce: dpopNonce
        )
    }

    /// An RFC 7230 quoted-string: `"` and `\` become quoted-pairs, anything outside printable ASCII becomes `?`.
    static func quoted(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22, 0x5C:
                output += "\\"
                output.unicodeScalars.append(scalar)
            case 0x20...0x7E:
                output.unicodeScalars.append(scalar)
            default:
                output += "?"
            }
        }
        return output + "\""
    }
}

/// The descriptions AuthKit sends, in one place so tests and docs can refer to them.
public enum AuthFailureDescription {
    public static let malformedHeader = "Malformed Authorization header"
    public static let multipleCredentials = "More than one way of sending the access token was used"
    public static let malformedToken = "Malformed token"
    public static let expired = "Token expired"
    public static let notYetValid = "Token not yet valid"
    public static let issuedInFuture = "Token issued in the future"
    public static let tooOld = "Token too old"
    public static let badSignature = "Invalid signature"
    public static let unknownKey = "Unknown signing key"
    public static let missingKeyID = "Missing 'kid' header"
    public static let wrongIssuer = "Unexpected 'iss' value"
    public static let wrongAudience = "Unexpected 'aud' value"
    public static let wrongType = "Unexpected 'typ' header"
    public static let revoked = "Token revoked"
    public static let keysUnavailable = "Signing keys unavailable"
    public static func missingClaim(_ name: String) -> String { "Missing '\(name)' claim" }
    public static func unexpectedClaimValue(_ name: String) -> String { "Unexpected '\(name)' value" }
    public static func invalidClaim(_ name: String) -> String { "Invalid '\(name)' claim" }
    public static func disallowedAlgorithm(_ alg: String) -> String { "Algorithm '\(alg)' is not allowed" }
    public static func algorithmKeyMismatch(_ alg: String) -> String {
        "Algorithm '\(alg)' does not match the signing key"
    }
}

/// The descriptions of DPoP (RFC 9449) failures, one per check.
public enum DPoPFailureDescription {
    public static let missingProof = "Missing DPoP proof"
    public static let multipleProofs = "More than one DPoP proof"
    public static let malformedProof = "Malformed DPoP proof"
    public static let wrongType = "DPoP proof 'typ' must be 'dpop+jwt'"
    public static func disallowedAlgorithm(_ alg: String) -> String { "DPoP proof algorithm '\(alg)' is not allowed" }
    public static let badKey = "DPoP proof 'jwk' is missing or not a usable public key"
    public static let privateKey = "DPoP proof 'jwk' must not hold a private key"
    public static let badSignature = "Invalid DPoP proof signature"
    public static func missingClaim(_ name: String) -> String { "Missing DPoP proof '\(name)' claim" }
    public static func invalidClaim(_ name: String) -> String { "Invalid DPoP proof '\(name)' claim" }
    public static let wrongMethod = "DPoP proof 'htm' does not match the request method"
    public static let wrongURL = "DPoP proof 'htu' does not match the request URL"
    public static let outsideWindow = "DPoP proof 'iat' is outside the accepted window"
    public static let wrongAccessTokenHash = "DPoP proof 'ath' does not match the access token"
    public static let replayed = "DPoP proof already used"
    public static let nonceRequired = "Resource server requires nonce in DPoP proof"
    public static let keyMismatch = "DPoP proof key does not match the token's 'cnf.jkt'"
    public static let boundTokenAsBearer = "DPoP-bound token must be sent with the DPoP scheme"
    public static let required = "A DPoP-bound token is required"
    public static let notBound = "Token is not DPoP-bound"
    public static let replayStoreUnavailable = "DPoP replay check unavailable"
}
