import AuthKit
import Crypto
import CryptoExtras
import Foundation
import Synchronization

/// Mints JWTs for tests and dev mode: RSA and EC keys, any claims, any header, including broken tokens.
///
/// ```swift
/// let issuer = try TestTokenIssuer()
/// let token = issuer.mint(TestTokenIssuer.claims(issuer: server.issuerURL, audience: "api"))
/// ```
public final class TestTokenIssuer: Sendable {
    /// How a minted token is signed.
    public enum Signer: Sendable {
        /// The current RSA key; `RS256`/`RS384`/`RS512`/`PS256`/`PS384`/`PS512`.
        case rsa(String = "RS256")
        /// The EC P-256 key, `ES256`.
        case ecdsa
        /// One of the keys that are not in the JWKS until a test adds ``jwk(for:)``: `ES384`, `ES512` or `EdDSA`.
        case extra(ExtraKey)
        /// An HMAC over the given secret (e.g. the RSA public key PEM, for the algorithm-confusion attack).
        case hmac(secret: [UInt8], algorithm: String = "HS256")
        /// `alg: none` and an empty signature.
        case unsigned
        /// A different RSA key that claims the current key's `kid` (a forgery).
        case foreignRSA
    }

    /// Keys for the rarer algorithms, kept out of the default JWKS so that key counts stay as they were.
    public enum ExtraKey: String, Sendable, CaseIterable {
        case es384 = "ES384"
        case es512 = "ES512"
        case eddsa = "EdDSA"
    }

    private struct ExtraKeys: Sendable {
        let p384 = P384.Signing.PrivateKey()
        let p521 = P521.Signing.PrivateKey()
        let ed25519 = Curve25519.Signing.PrivateKey()
    }

    private struct RSAKey: Sendable {
        let keyID: String
        let privateKey: _RSA.Signing.PrivateKey
    }

    private struct Keys: Sendable {
        var current: RSAKey
        var retired: [RSAKey] = []
        var generation = 1
        var extraJWKs: [JSONClaimValue] = []
        var foreign: _RSA.Signing.PrivateKey?
    }

    private let keys: Mutex<Keys>
    private let baseKeyID: String
    /// The EC P-256 key (its `kid` is ``ecKeyID``).
    private let ecKey: P256.Signing.PrivateKey
    /// The `kid` of the EC key.
    public let ecKeyID: String
    private let extraKeys = ExtraKeys()

    /// - Parameters:
    ///   - keyID: The `kid` of the first RSA key.
    ///   - rsaPrivateKeyPEM: A PEM RSA private key to use instead of a fresh one (dev mode keeps its key in a file).
    public init(keyID: String = "test-key-1", rsaPrivateKeyPEM: String? = nil) throws {
        let privateKey =
            if let rsaPrivateKeyPEM {
                try _RSA.Signing.PrivateKey(pemRepresentation: rsaPrivateKeyPEM)
            } else {
                try _RSA.Signing.PrivateKey(keySize: .bits2048)
            }
        self.keys = Mutex(Keys(current: RSAKey(keyID: keyID, privateKey: privateKey)))
        self.baseKeyID = keyID
        self.ecKey = P256.Signing.PrivateKey()
        self.ecKeyID = keyID + "-ec"
    }

    /// The current RSA private key, PEM-encoded (persist it to keep tokens valid across restarts).
    public var privateKeyPEM: String { keys.withLock { $0.current.privateKey.pemRepresentation } }

    /// The current RSA public key, PEM-encoded.
    public var publicKeyPEM: String { keys.withLock { $0.current.privateKey.publicKey.pemRepresentation } }

    /// The `kid` of the current RSA key.
    public var keyID: String { keys.withLock { $0.current.keyID } }

    /// Replaces the RSA key with a new one under a new `kid`. The old public key stays in the JWKS
    /// (as identity providers do during rotation) until ``retireOldKeys()``.
    public func rotate() {
        let fresh = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        keys.withLock { keys in
            keys.generation += 1
            keys.retired.append(keys.current)
            let base = baseKeyID.hasSuffix("-1") ? String(baseKeyID.dropLast(2)) : baseKeyID
            keys.current = RSAKey(keyID: "\(base)-\(keys.generation)", privateKey: fresh)
        }
    }

    /// Drops retired keys from the JWKS.
    public func retireOldKeys() {
        keys.withLock { $0.retired.removeAll() }
    }

    /// Adds a raw entry to the JWKS (malformed keys, `use: enc` keys, small moduli...).
    public func addJWKEntry(_ entry: JSONClaimValue) {
        keys.withLock { $0.extraJWKs.append(entry) }
    }

    /// The JWKS document of the current public keys (current and retired RSA keys, the EC key, extra entries).
    public func jwks() -> Data {
        Data(jwksValue().jsonBytes)
    }

    /// The JWKS document as a JSON value.
    public func jwksValue() -> JSONClaimValue {
        let (current, retired, extra) = keys.withLock { ($0.current, $0.retired, $0.extraJWKs) }
        var entries: [JSONClaimValue] = ([current] + retired).map { key in
            Self.rsaJWK(publicKey: key.privateKey.publicKey, keyID: key.keyID)
        }
        let raw = ecKey.publicKey.x963Representation  // 0x04 || x || y
        entries.append([
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": .string(ecKeyID),
            "x": .string(AuthBase64URL.encode(raw.dropFirst().prefix(32))),
            "y": .string(AuthBase64URL.encode(raw.dropFirst(33))),
        ])
        return ["keys": .array(entries + extra)]
    }

    /// The `kid` of an extra key.
    public func keyID(for key: ExtraKey) -> String { "\(baseKeyID)-\(key.rawValue.lowercased())" }

    /// The public JWK of an extra key; add it with ``addJWKEntry(_:)`` to serve it.
    public func jwk(for key: ExtraKey) -> JSONClaimValue {
        switch key {
        case .es384:
            let raw = extraKeys.p384.publicKey.rawRepresentation  // x || y
            return [
                "kty": "EC", "crv": "P-384", "use": "sig", "alg": "ES384", "kid": .string(keyID(for: key)),
                "x": .string(AuthBase64URL.encode(raw.prefix(48))),
                "y": .string(AuthBase64URL.encode(raw.dropFirst(48))),
            ]
        case .es512:
            let raw = extraKeys.p521.publicKey.rawRepresentation
            return [
                "kty": "EC", "crv": "P-521", "use": "sig", "alg": "ES512", "kid": .string(keyID(for: key)),
                "x": .string(AuthBase64URL.encode(raw.prefix(66))),
                "y": .string(AuthBase64URL.encode(raw.dropFirst(66))),
            ]
        case .eddsa:
            return [
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": .string(keyID(for: key)),
                "x": .string(AuthBase64URL.encode(extraKeys.ed25519.publicKey.rawRepresentation)),
            ]
        }
    }

    /// The current RSA public key as a JWK, under any `kid`, `use` and `alg` (`nil` leaves a field out).
    public func publicJWK(keyID: String? = nil, use: String? = "sig", algorithm: String? = "RS256") -> JSONClaimValue {
        let current = keys.withLock { $0.current }
        return Self.rsaJWK(
            publicKey: current.privateKey.publicKey,
            keyID: keyID ?? current.keyID,
            use: use,
            algorithm: algorithm
        )
    }

    /// A public RSA JWK.
    public static func rsaJWK(
        publicKey: _RSA.Signing.PublicKey,
        keyID: String,
        use: String? = "sig",
        algorithm: String? = "RS256"
    ) -> JSONClaimValue {
        let primitives = try! publicKey.getKeyPrimitives()
        var jwk: [String: JSONClaimValue] = [
            "kty": "RSA", "kid": .string(keyID),
            "n": .string(AuthBase64URL.encode(primitives.modulus)),
            "e": .string(AuthBase64URL.encode(primitives.publicExponent)),
        ]
        if let use { jwk["use"] = .string(use) }
        if let algorithm { jwk["alg"] = .string(algorithm) }
        return .object(jwk)
    }

    /// A JWK of a fresh RSA key of any size (e.g. 1024 bits, which verifiers must skip).
    public static func rsaJWK(bits: Int, keyID: String, use: String? = "sig") -> JSONClaimValue {
        let key = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: bits))
        return rsaJWK(publicKey: key.publicKey, keyID: keyID, use: use)
    }

    /// Typical Auth0-style access-token claims, valid from `now` for `lifetime`.
    public static func claims(
        issuer: String,
        audience: JSONClaimValue,
        subject: String = "auth0|user-1",
        now: Date = Date(),
        lifetime: Duration = .seconds(3600),
        extra: [String: JSONClaimValue] = [:]
    ) -> [String: JSONClaimValue] {
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        var claims: [String: JSONClaimValue] = [
            "iss": .string(issuer),
            "sub": .string(subject),
            "aud": audience,
            "iat": .number(issuedAt),
            "exp": .number(issuedAt + Double(lifetime.components.seconds)),
            "azp": "test-client",
            "scope": "openid profile",
        ]
        claims.merge(extra) { _, new in new }
        return claims
    }

    /// A signed compact JWT. Header fields default to `alg`, `typ: JWT` and the signer's `kid`; `header`
    /// overrides them, and a `.null` override removes a field.
    public func mint(
        _ claims: [String: JSONClaimValue],
        signer: Signer = .rsa(),
        header overrides: [String: JSONClaimValue] = [:]
    ) -> String {
        mint(payloadJSON: JSONClaimValue.object(claims).jsonString, signer: signer, header: overrides)
    }

    /// A signed compact JWT whose payload is exactly `payloadJSON`, well-formed or not (duplicate claims, broken
    /// JSON): for tests of what a verifier does with a correctly signed but malformed token.
    public func mint(
        payloadJSON: String,
        signer: Signer = .rsa(),
        header overrides: [String: JSONClaimValue] = [:]
    ) -> String {
        let (current, foreign) = keys.withLock { keys in
            if case .foreignRSA = signer, keys.foreign == nil {
                keys.foreign = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
            }
            return (keys.current, keys.foreign)
        }
        var header: [String: JSONClaimValue] = ["typ": "JWT"]
        switch signer {
        case .rsa(let alg):
            header["alg"] = .string(alg)
            header["kid"] = .string(current.keyID)
        case .ecdsa:
            header["alg"] = "ES256"
            header["kid"] = .string(ecKeyID)
        case .extra(let key):
            header["alg"] = .string(key.rawValue)
            header["kid"] = .string(keyID(for: key))
        case .hmac(_, let alg):
            header["alg"] = .string(alg)
        case .unsigned:
            header["alg"] = "none"
            header["kid"] = .string(current.keyID)
        case .foreignRSA:
            header["alg"] = "RS256"
            header["kid"] = .string(current.keyID)
        }
        for (name, value) in overrides {
            header[name] = value == .null ? nil : value
        }
        let signingInput =
            JSONClaimValue.object(header).base64URLEncoded + "." + AuthBase64URL.encode(Array(payloadJSON.utf8))
        let data = Array(signingInput.utf8)
        let signature: [UInt8]
        switch signer {
        case .rsa(let alg):
            signature = Self.rsaSign(data, key: current.privateKey, algorithm: alg)
        case .foreignRSA:
            signature = Self.rsaSign(data, key: foreign!, algorithm: "RS256")
        case .ecdsa:
            signature = Array(try! ecKey.signature(for: data).rawRepresentation)
        case .extra(.es384):
            signature = Array(try! extraKeys.p384.signature(for: data).rawRepresentation)
        case .extra(.es512):
            signature = Array(try! extraKeys.p521.signature(for: data).rawRepresentation)
        case .extra(.eddsa):
            signature = Array(try! extraKeys.ed25519.signature(for: data))
        case .hmac(let secret, let alg):
            let key = SymmetricKey(data: secret)
            switch alg {
            case "HS384": signature = Array(HMAC<SHA384>.authenticationCode(for: data, using: key))
            case "HS512": signature = Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
            default: signature = Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
            }
        case .unsigned:
            signature = []
        }
        return signingInput + "." + AuthBase64URL.encode(signature)
    }

    /// The token with its payload replaced and the original signature kept (a tampered token).
    public static func replacingPayload(of token: String, with claims: [String: JSONClaimValue]) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return parts[0] + "." + JSONClaimValue.object(claims).base64URLEncoded + "." + parts[2]
    }

    private static func rsaSign(_ data: [UInt8], key: _RSA.Signing.PrivateKey, algorithm: String) -> [UInt8] {
        let padding: _RSA.Signing.Padding = algorithm.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
        let signature: _RSA.Signing.RSASignature
        switch algorithm.suffix(3) {
        case "384": signature = try! key.signature(for: SHA384.hash(data: data), padding: padding)
        case "512": signature = try! key.signature(for: SHA512.hash(data: data), padding: padding)
        default: signature = try! key.signature(for: SHA256.hash(data: data), padding: padding)
        }
        return Array(signature.rawRepresentation)
    }
}

/// A clock tests move by hand.
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    /// Starts at `start` (by default a fixed instant, so tests are repeatable).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_750_000_000)) {
        current = Mutex(start)
    }

    /// The clock's time.
    public var now: Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        current.withLock { $0 = $0.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18) }
    }

    /// This clock as AuthKit's clock.
    public var authClock: AuthClock {
        AuthClock { [self] in now }
    }
}
