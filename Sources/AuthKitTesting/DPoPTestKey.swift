import AuthKit
import Crypto
import Foundation

/// A client's DPoP key (RFC 9449) for tests and tools: makes proofs, well-formed or broken on purpose.
///
/// ```swift
/// let key = DPoPTestKey()
/// let token = issuer.mint(claims + ["cnf": ["jkt": .string(key.thumbprint)]])
/// let proof = key.proof(method: "GET", url: "https://api.example.com/timesheets", accessToken: token)
/// // Authorization: DPoP <token>, DPoP: <proof>
/// ```
public struct DPoPTestKey: Sendable {
    /// The key's algorithm.
    public enum Algorithm: String, Sendable {
        case es256 = "ES256"
        case es384 = "ES384"
        case eddsa = "EdDSA"
    }

    public let algorithm: Algorithm
    private let p256: P256.Signing.PrivateKey
    private let p384: P384.Signing.PrivateKey
    private let ed25519: Curve25519.Signing.PrivateKey

    public init(_ algorithm: Algorithm = .es256) {
        self.algorithm = algorithm
        self.p256 = P256.Signing.PrivateKey()
        self.p384 = P384.Signing.PrivateKey()
        self.ed25519 = Curve25519.Signing.PrivateKey()
    }

    /// The public JWK that goes in a proof's header.
    public var publicJWK: [String: JSONClaimValue] {
        switch algorithm {
        case .es256:
            let raw = Array(p256.publicKey.rawRepresentation)
            return [
                "kty": "EC", "crv": "P-256", "x": .string(AuthBase64URL.encode(raw[..<32])),
                "y": .string(AuthBase64URL.encode(raw[32...])),
            ]
        case .es384:
            let raw = Array(p384.publicKey.rawRepresentation)
            return [
                "kty": "EC", "crv": "P-384", "x": .string(AuthBase64URL.encode(raw[..<48])),
                "y": .string(AuthBase64URL.encode(raw[48...])),
            ]
        case .eddsa:
            return [
                "kty": "OKP", "crv": "Ed25519", "x": .string(AuthBase64URL.encode(ed25519.publicKey.rawRepresentation)),
            ]
        }
    }

    /// The JWK with the private part (`d`): what a proof must never carry.
    public var privateJWK: [String: JSONClaimValue] {
        var jwk = publicJWK
        switch algorithm {
        case .es256: jwk["d"] = .string(AuthBase64URL.encode(p256.rawRepresentation))
        case .es384: jwk["d"] = .string(AuthBase64URL.encode(p384.rawRepresentation))
        case .eddsa: jwk["d"] = .string(AuthBase64URL.encode(ed25519.rawRepresentation))
        }
        return jwk
    }

    /// The RFC 7638 thumbprint: the token's `cnf.jkt`.
    public var thumbprint: String { DPoPProofVerifier.thumbprint(of: publicJWK)! }

    /// `base64url(SHA-256(token))`, a proof's `ath`.
    public static func accessTokenHash(_ token: String) -> String {
        AuthBase64URL.encode(Array(SHA256.hash(data: Array(token.utf8))))
    }

    /// A proof for one request. `header` and `claims` override (or with `.null` remove) what a correct proof holds.
    /// - Parameters:
    ///   - signingInputOverride: Sign these header and payload texts instead (for broken JSON).
    public func proof(
        method: String,
        url: String,
        accessToken: String? = nil,
        issuedAt: Date = Date(),
        tokenID: String = UUID().uuidString,
        nonce: String? = nil,
        header: [String: JSONClaimValue] = [:],
        claims: [String: JSONClaimValue] = [:]
    ) -> String {
        var headerMembers: [String: JSONClaimValue] = [
            "typ": "dpop+jwt", "alg": .string(algorithm.rawValue), "jwk": .object(publicJWK),
        ]
        for (name, value) in header { headerMembers[name] = value == .null ? nil : value }
        var payload: [String: JSONClaimValue] = [
            "jti": .string(tokenID), "htm": .string(method), "htu": .string(url),
            "iat": .number(issuedAt.timeIntervalSince1970.rounded(.down)),
        ]
        if let accessToken { payload["ath"] = .string(Self.accessTokenHash(accessToken)) }
        if let nonce { payload["nonce"] = .string(nonce) }
        for (name, value) in claims { payload[name] = value == .null ? nil : value }
        let signingInput =
            JSONClaimValue.object(headerMembers).base64URLEncoded + "."
            + JSONClaimValue.object(payload).base64URLEncoded
        return signingInput + "." + AuthBase64URL.encode(sign(Array(signingInput.utf8)))
    }

    /// A raw signature of `data` with this key (for proofs signed under a header that lies about them).
    public func sign(_ data: [UInt8]) -> [UInt8] {
        switch algorithm {
        case .es256: Array(try! p256.signature(for: data).rawRepresentation)
        case .es384: Array(try! p384.signature(for: data).rawRepresentation)
        case .eddsa: Array(try! ed25519.signature(for: data))
        }
    }
}
