import Foundation

/// The claim checks of one token whose signature is already verified, in the order the README lists them: times,
/// issuer, audience, the RFC 9068 profile when required, then the claims a ``Principal`` is built from.
struct ClaimValidation {
    let claims: JSONMembers
    let header: JSONMembers
    let configuration: AuthConfiguration
    let now: Date

    private var realm: String { configuration.realm }

    /// The principal the claims describe, or the first failed check.
    func principal() throws(AuthFailure) -> Principal {
        let times = try checkTimes()
        try checkIssuer()
        try checkAudience()
        if configuration.requireRFC9068 { try checkRFC9068Profile(issuedAt: times.issuedAt) }
        _ = try requiredString("sub")
        try checkScopeClaimTypes()
        try checkRequiredClaims()
        guard
            let principal = Principal(
                claims: claims,
                userIDClaim: configuration.userIDClaim,
                scopeClaims: configuration.scopeClaims,
                expiresAt: Date(timeIntervalSince1970: times.expiresAt)
            )
        else {
            let name = configuration.userIDClaim
            let missing = claims[name] == nil
            throw .invalidToken(
                missing ? AuthFailureDescription.missingClaim(name) : AuthFailureDescription.invalidClaim(name),
                missing ? .missingClaim : .malformedClaims,
                realm: realm
            )
        }
        return principal
    }

    /// `exp` (required), `nbf`, `iat` and the optional maximum age, each with the clock tolerance.
    private func checkTimes() throws(AuthFailure) -> (expiresAt: Double, issuedAt: Double?) {
        let tolerance = configuration.clockTolerance.timeInterval
        let nowSeconds = now.timeIntervalSince1970
        guard let exp = try numericDate("exp") else {
            throw .invalidToken(AuthFailureDescription.missingClaim("exp"), .missingClaim, realm: realm)
        }
        let nbf = try numericDate("nbf")
        let iat = try numericDate("iat")
        if nowSeconds >= exp + tolerance {
            throw .invalidToken(AuthFailureDescription.expired, .expired, realm: realm)
        }
        if let nbf, nowSeconds + tolerance < nbf {
            throw .invalidToken(AuthFailureDescription.notYetValid, .notYetValid, realm: realm)
        }
        if let iat, iat > nowSeconds + tolerance {
            throw .invalidToken(AuthFailureDescription.issuedInFuture, .issuedInFuture, realm: realm)
        }
        if let maximumAge = configuration.maximumTokenAge {
            guard let iat else {
                throw .invalidToken(AuthFailureDescription.missingClaim("iat"), .missingClaim, realm: realm)
            }
            if nowSeconds - iat > maximumAge.timeInterval + tolerance {
                throw .invalidToken(AuthFailureDescription.tooOld, .tooOld, realm: realm)
            }
        }
        return (exp, iat)
    }

    private func checkIssuer() throws(AuthFailure) {
        switch claims["iss"] {
        case nil:
            throw .invalidToken(AuthFailureDescription.missingClaim("iss"), .wrongIssuer, realm: realm)
        case .string(let issuer):
            guard configuration.issuerMatches(issuer) else {
                throw .invalidToken(AuthFailureDescription.wrongIssuer, .wrongIssuer, realm: realm)
            }
        default:
            throw .invalidToken(AuthFailureDescription.invalidClaim("iss"), .malformedClaims, realm: realm)
        }
    }

    /// `aud` is a string or a non-empty array of strings, one of which is a configured audience.
    private func checkAudience() throws(AuthFailure) {
        let audiences: [String]
        switch claims["aud"] {
        case nil:
            throw .invalidToken(AuthFailureDescription.missingClaim("aud"), .wrongAudience, realm: realm)
        case .string(let audience):
            audiences = [audience]
        case .array(let values):
            let strings = values.compactMap(\.stringValue)
            guard !strings.isEmpty, strings.count == values.count else {
                throw .invalidToken(AuthFailureDescription.invalidClaim("aud"), .malformedClaims, realm: realm)
            }
            audiences = strings
        default:
            throw .invalidToken(AuthFailureDescription.invalidClaim("aud"), .malformedClaims, realm: realm)
        }
        guard audiences.contains(where: configuration.audiences.contains) else {
            throw .invalidToken(AuthFailureDescription.wrongAudience, .wrongAudience, realm: realm)
        }
    }

    /// RFC 9068's access-token profile: `typ: at+jwt`, and `client_id`, `jti` and `iat` present.
    private func checkRFC9068Profile(issuedAt: Double?) throws(AuthFailure) {
        let type = header["typ"]?.stringValue?.lowercased()
        guard type == "at+jwt" || type == "application/at+jwt" else {
            throw .invalidToken(AuthFailureDescription.wrongType, .wrongType, realm: realm)
        }
        _ = try requiredString("client_id")
        _ = try requiredString("jti")
        guard issuedAt != nil else {
            throw .invalidToken(AuthFailureDescription.missingClaim("iat"), .missingClaim, realm: realm)
        }
    }

    /// Each scope claim, when present, is a string or an array of strings.
    private func checkScopeClaimTypes() throws(AuthFailure) {
        for name in configuration.scopeClaims {
            switch claims[name] {
            case nil, .string: continue
            case .array(let values) where values.allSatisfy({ $0.stringValue != nil }): continue
            default: throw .invalidToken(AuthFailureDescription.invalidClaim(name), .malformedClaims, realm: realm)
            }
        }
    }

    /// Every configured ``RequiredClaim``, in order.
    private func checkRequiredClaims() throws(AuthFailure) {
        for requirement in configuration.requiredClaims where !requirement.isSatisfied(by: claims[requirement.name]) {
            throw .invalidToken(
                AuthFailureDescription.unexpectedClaimValue(requirement.name),
                .unexpectedClaimValue,
                realm: realm
            )
        }
    }

    private func numericDate(_ name: String) throws(AuthFailure) -> Double? {
        switch claims[name] {
        case nil: return nil
        case .number(let value): return value
        default: throw .invalidToken(AuthFailureDescription.invalidClaim(name), .malformedClaims, realm: realm)
        }
    }

    private func requiredString(_ name: String) throws(AuthFailure) -> String {
        switch claims[name] {
        case nil: throw .invalidToken(AuthFailureDescription.missingClaim(name), .missingClaim, realm: realm)
        case .string(let value) where !value.isEmpty: return value
        default: throw .invalidToken(AuthFailureDescription.invalidClaim(name), .malformedClaims, realm: realm)
        }
    }
}
