import Crypto
import Foundation

/// A DPoP proof that passed every check of RFC 9449 §4.3 except the `jti` replay check (which needs a store).
public struct VerifiedDPoPProof: Sendable, Equatable {
    /// The RFC 7638 SHA-256 thumbprint of the proof's public key, base64url: what `cnf.jkt` must equal.
    public let thumbprint: String
    /// The proof's `jti`.
    public let tokenID: String
    /// The proof's `iat`.
    public let issuedAt: Date

    /// The key under which the proof is remembered: the thumbprint and `jti` hashed together, so a store's keys have
    /// one length however long a `jti` is, and one client's `jti`s cannot block another's.
    public var replayKey: String {
        AuthBase64URL.encode(Array(SHA256.hash(data: Array("\(thumbprint).\(tokenID)".utf8))))
    }
}

/// Why a proof was refused: the description and reason of the 401, and whether a fresh nonce must go with it.
public struct DPoPProofFailure: Error, Sendable, Equatable {
    public let description: String
    public let reason: AuthFailure.Reason

    public init(description: String, reason: AuthFailure.Reason) {
        self.description = description
        self.reason = reason
    }
}

/// Checks DPoP proof JWTs (RFC 9449 §4.3): `typ`, algorithm, public `jwk`, signature, `htm`, `htu`, `iat`, `ath` and
/// the server's nonce. The `jti` replay check is the caller's (see ``DPoPReplayStore``), as is comparing
/// ``VerifiedDPoPProof/thumbprint`` with the token's `cnf.jkt`.
///
/// Used by ``BearerAuthenticator`` for resource requests, and usable alone by an authorization server's token
/// endpoint (no access token there, so no `ath`).
public struct DPoPProofVerifier: Sendable {
    public let configuration: DPoPConfiguration
    public let clockTolerance: Duration
    let nonces: DPoPNonces?

    /// Largest proof accepted, in bytes.
    static let maximumProofLength = 8 * 1024
    /// Longest `jti` accepted, in bytes.
    static let maximumTokenIDLength = 256

    public init(configuration: DPoPConfiguration = DPoPConfiguration(), clockTolerance: Duration = .seconds(5)) {
        self.configuration = configuration
        self.clockTolerance = clockTolerance
        self.nonces = configuration.nonceSecret.map {
            DPoPNonces(secret: $0, lifetime: configuration.nonceLifetime, tolerance: clockTolerance)
        }
    }

    /// A fresh nonce when nonces are on.
    public func freshNonce(now: Date) -> String? { nonces?.issue(now: now) }

    /// Checks one proof.
    /// - Parameters:
    ///   - proof: The `DPoP` header's value.
    ///   - request: The method and public URL of the request carrying it.
    ///   - accessToken: The access token sent with it (`nil` at a token endpoint: then `ath` is not checked).
    ///   - now: The current time.
    public func verify(
        proof: String,
        request: DPoPRequest,
        accessToken: String?,
        now: Date
    ) throws(DPoPProofFailure) -> VerifiedDPoPProof {
        func refuse(_ description: String, _ reason: AuthFailure.Reason = .invalidDPoPProof) -> DPoPProofFailure {
            DPoPProofFailure(description: description, reason: reason)
        }
        let utf8 = Array(proof.utf8)
        guard utf8.count <= Self.maximumProofLength,
            let firstDot = utf8.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = utf8[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            !utf8[(secondDot + 1)...].contains(UInt8(ascii: ".")),
            let headerBytes = Base64URL.decode(utf8[..<firstDot]),
            let header = JSONMembers(parsing: headerBytes),
            let payloadBytes = Base64URL.decode(utf8[(firstDot + 1)..<secondDot]),
            let claims = JSONMembers(parsing: payloadBytes)
        else { throw refuse(DPoPFailureDescription.malformedProof) }

        // typ: exactly the proof's media type (media types compare case-insensitively).
        guard header["typ"]?.stringValue?.lowercased() == "dpop+jwt" else {
            throw refuse(DPoPFailureDescription.wrongType)
        }
        guard case .string(let alg)? = header["alg"] else { throw refuse(DPoPFailureDescription.malformedProof) }
        guard configuration.algorithms.contains(alg), DPoPConfiguration.asymmetricAlgorithms.contains(alg) else {
            throw refuse(DPoPFailureDescription.disallowedAlgorithm(String(alg.prefix(20))))
        }
        if header["crit"] != nil { throw refuse(DPoPFailureDescription.malformedProof) }
        guard case .object(let jwk)? = header["jwk"] else { throw refuse(DPoPFailureDescription.badKey) }
        if !Self.privateMembers.isDisjoint(with: jwk.keys) { throw refuse(DPoPFailureDescription.privateKey) }
        guard let key = try? JWKSParser.makeKey(.object(jwk), allowedAlgorithms: [alg], requireKeyID: false),
            let verifier = key.verifiers[alg], let thumbprint = Self.thumbprint(of: jwk)
        else { throw refuse(DPoPFailureDescription.badKey) }
        guard let signature = Base64URL.decode(utf8[(secondDot + 1)...]), !signature.isEmpty,
            verifier.isValid(signature: signature, signingInput: utf8[..<secondDot])
        else { throw refuse(DPoPFailureDescription.badSignature) }

        func string(_ name: String) throws(DPoPProofFailure) -> String {
            switch claims[name] {
            case nil: throw refuse(DPoPFailureDescription.missingClaim(name))
            case .string(let value) where !value.isEmpty: return value
            default: throw refuse(DPoPFailureDescription.invalidClaim(name))
            }
        }
        let tokenID = try string("jti")
        guard tokenID.utf8.count <= Self.maximumTokenIDLength else {
            throw refuse(DPoPFailureDescription.invalidClaim("jti"))
        }
        let method = try string("htm")
        let url = try string("htu")
        let issuedAt: Double
        switch claims["iat"] {
        case nil: throw refuse(DPoPFailureDescription.missingClaim("iat"))
        case .number(let value): issuedAt = value
        default: throw refuse(DPoPFailureDescription.invalidClaim("iat"))
        }
        guard method == request.method else { throw refuse(DPoPFailureDescription.wrongMethod) }
        guard let expected = request.url.flatMap(DPoPURL.normalized), DPoPURL.normalized(url) == expected else {
            throw refuse(DPoPFailureDescription.wrongURL)
        }
        if let nonces {
            guard case .string(let nonce)? = claims["nonce"], nonces.isValid(nonce, now: now) else {
                throw refuse(DPoPFailureDescription.nonceRequired, .dpopNonceRequired)
            }
        }
        let age = now.timeIntervalSince1970 - issuedAt
        let tolerance = clockTolerance.timeInterval
        guard age <= configuration.issuedAtWindow.timeInterval + tolerance, -age <= tolerance else {
            throw refuse(DPoPFailureDescription.outsideWindow)
        }
        if let accessToken {
            let hash =
                accessToken.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: $0) }
                ?? SHA256.hash(data: Array(accessToken.utf8))
            guard try string("ath") == AuthBase64URL.encode(Array(hash)) else {
                throw refuse(DPoPFailureDescription.wrongAccessTokenHash)
            }
        }
        return VerifiedDPoPProof(
            thumbprint: thumbprint,
            tokenID: tokenID,
            issuedAt: Date(timeIntervalSince1970: issuedAt)
        )
    }

    /// How long a proof's `jti` must be remembered: until its `iat` leaves the window.
    public func replayExpiry(of proof: VerifiedDPoPProof) -> Date {
        proof.issuedAt.addingTimeInterval(configuration.issuedAtWindow.timeInterval + 2 * clockTolerance.timeInterval)
    }

    /// JWK members that only a private (or symmetric) key has.
    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// The RFC 7638 SHA-256 thumbprint, base64url: the key's required members only, sorted, no whitespace.
    public static func thumbprint(of jwk: [String: JSONClaimValue]) -> String? {
        let required: [String]
        switch jwk["kty"]?.stringValue {
        case "RSA": required = ["e", "kty", "n"]
        case "EC": required = ["crv", "kty", "x", "y"]
        case "OKP": required = ["crv", "kty", "x"]
        default: return nil
        }
        var members: [String: JSONClaimValue] = [:]
        for name in required {
            guard let value = jwk[name], value.stringValue != nil else { return nil }
            members[name] = value
        }
        // `jsonString` writes members sorted by name, with no whitespace: RFC 7638's form for these members.
        return AuthBase64URL.encode(Array(SHA256.hash(data: JSONClaimValue.object(members).jsonBytes)))
    }
}

/// Stateless server nonces (RFC 9449 §9): the issue time and an HMAC of it. Any replica holding the same secret
/// accepts a nonce another made, with no shared state; a nonce is good for `lifetime` after it was issued.
struct DPoPNonces: Sendable {
    let key: SymmetricKey
    let lifetime: Duration
    let tolerance: Duration

    init(secret: [UInt8], lifetime: Duration, tolerance: Duration) {
        self.key = SymmetricKey(data: secret)
        self.lifetime = lifetime
        self.tolerance = tolerance
    }

    func issue(now: Date) -> String {
        let stamp = Self.bytes(of: Int64(now.timeIntervalSince1970.rounded(.down)))
        return AuthBase64URL.encode(stamp + mac(stamp))
    }

    func isValid(_ nonce: String, now: Date) -> Bool {
        guard nonce.utf8.count <= 64, let bytes = AuthBase64URL.decode(nonce), bytes.count == 24 else { return false }
        let stamp = Array(bytes[..<8])
        let expected = mac(stamp)
        var difference: UInt8 = 0
        for (a, b) in zip(bytes[8...], expected) { difference |= a ^ b }
        guard difference == 0 else { return false }
        let issued = Double(stamp.reduce(Int64(0)) { $0 << 8 | Int64($1) })
        let age = now.timeIntervalSince1970 - issued
        return age <= lifetime.timeInterval + tolerance.timeInterval && -age <= tolerance.timeInterval
    }

    private func mac(_ stamp: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("dpop-nonce.".utf8) + stamp, using: key)).prefix(16).map {
            $0
        }
    }

    private static func bytes(of value: Int64) -> [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// The comparison form of an `htu` (RFC 9449 §4.3 with RFC 3986 §6.2.2 syntax-based normalisation): scheme and host
/// in lower case, the scheme's default port dropped, an empty path as `/`, percent-escapes of unreserved characters
/// decoded and the others' hex digits in upper case, dot segments removed; query and fragment left out.
public enum DPoPURL {
    public static func normalized(_ text: String) -> String? {
        var rest = Substring(text)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if let question = rest.firstIndex(of: "?") { rest = rest[..<question] }
        guard let schemeEnd = rest.range(of: "://") else { return nil }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { return nil }
        let afterScheme = rest[schemeEnd.upperBound...]
        let pathStart = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let authority = afterScheme[..<pathStart]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = authority.lowercased()
        var port: String?
        if let colon = host.lastIndex(of: ":"), !host[colon...].contains("]") {
            port = String(host[host.index(after: colon)...])
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { return nil }
        if let digits = port {
            guard digits.isEmpty || (digits.allSatisfy(\.isASCII) && UInt16(digits) != nil) else { return nil }
            let isDefault =
                digits.isEmpty || (scheme == "https" && UInt16(digits) == 443)
                || (scheme == "http" && UInt16(digits) == 80)
            port = isDefault ? nil : String(UInt16(digits)!)
        }
        guard let path = normalizedPath(afterScheme[pathStart...]) else { return nil }
        return "\(scheme)://\(host)\(port.map { ":\($0)" } ?? "")\(path)"
    }

    private static func normalizedPath(_ raw: Substring) -> String? {
        var bytes: [UInt8] = []
        let input = Array(raw.utf8)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < input.count, let high = hex(input[index + 1]), let low = hex(input[index + 2]) else {
                    return nil
                }
                let decoded = high << 4 | low
                if isUnreserved(decoded) {
                    bytes.append(decoded)
                } else {
                    bytes.append(contentsOf: Array(String(format: "%%%02X", decoded).utf8))
                }
                index += 3
            } else {
                bytes.append(byte)
                index += 1
            }
        }
        let path = removingDotSegments(String(decoding: bytes, as: UTF8.self))
        return path.isEmpty ? "/" : path
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// RFC 3986 §5.2.4.
    static func removingDotSegments(_ path: String) -> String {
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (position, segment) in segments.enumerated().dropFirst() {
            let isLast = position == segments.count - 1
            switch segment {
            case ".":
                if isLast { output.append("") }
            case "..":
                if !output.isEmpty { output.removeLast() }
                if isLast { output.append("") }
            default:
                output.append(segment)
            }
        }
        return output.isEmpty ? "" : "/" + output.joined(separator: "/")
    }
}
