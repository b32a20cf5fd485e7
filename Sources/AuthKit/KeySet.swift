import Crypto
import CryptoExtras
import Foundation
import Logging

/// One verification key: a `kid` and, for each algorithm it may check, a ready verifier.
///
/// Every family is checked with swift-crypto directly (`_RSA`, `P256`/`P384`/`P521`, `Curve25519`): JWS needs only
/// the raw verify operations, and calling them on contiguous bytes keeps the hot path free of generic dispatch.
/// Verification is synchronous, with no actor hop and no default-key fallback.
struct VerificationKey: Sendable {
    let keyID: String
    let keyType: String
    let verifiers: [String: SignatureVerifier]
}

/// Checks one signature with one key and one algorithm.
enum SignatureVerifier: Sendable {
    case rsa(_RSA.Signing.PublicKey, DigestAlgorithm, _RSA.Signing.Padding)
    /// ES256, ES384 and ES512: a JWS signature is the raw `r || s`, hashed with the curve's own SHA-2.
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case p521(P521.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)
    case hmac(SymmetricKey, DigestAlgorithm)

    func isValid(signature: [UInt8], signingInput: ArraySlice<UInt8>) -> Bool {
        switch self {
        case .rsa(let key, let digest, let padding):
            // Hashing a contiguous buffer with a concrete hash function keeps this path free of generic
            // `DataProtocol` dispatch, which cost as much as the RSA operation itself when done through jwt-kit.
            let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            return signingInput.withUnsafeBytes { input in
                switch digest {
                case .sha384: key.isValidSignature(rsaSignature, for: SHA384.hash(data: input), padding: padding)
                case .sha512: key.isValidSignature(rsaSignature, for: SHA512.hash(data: input), padding: padding)
                default: key.isValidSignature(rsaSignature, for: SHA256.hash(data: input), padding: padding)
                }
            }
        case .p256(let key):
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return signingInput.withUnsafeBytes { key.isValidSignature(signature, for: SHA256.hash(data: $0)) }
        case .p384(let key):
            guard let signature = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return signingInput.withUnsafeBytes { key.isValidSignature(signature, for: SHA384.hash(data: $0)) }
        case .p521(let key):
            guard let signature = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return signingInput.withUnsafeBytes { key.isValidSignature(signature, for: SHA512.hash(data: $0)) }
        case .ed25519(let key):
            return key.isValidSignature(signature, for: signingInput)
        case .hmac(let key, let digest):
            switch digest {
            case .sha384:
                return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
            case .sha512:
                return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
            default: return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
            }
        }
    }
}

/// An immutable set of keys as fetched at one moment. Replaced whole, never mutated.
final class KeySnapshot: Sendable {
    let keys: [String: VerificationKey]
    let fetchedAt: Date
    /// End of freshness (cache TTL or `max-age`).
    let freshUntil: Date
    /// Past this, the keys are not used at all.
    let usableUntil: Date

    init(keys: [String: VerificationKey], fetchedAt: Date, freshUntil: Date, usableUntil: Date) {
        self.keys = keys
        self.fetchedAt = fetchedAt
        self.freshUntil = freshUntil
        self.usableUntil = usableUntil
    }
}

/// The SHA-2 digest an algorithm name implies (`RS384` is SHA-384).
enum DigestAlgorithm: Sendable {
    case sha256, sha384, sha512
}

enum KeyFamily {
    static let rsa: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
    static let hmac: Set<String> = ["HS256", "HS384", "HS512"]

    static func digest(for alg: String) -> DigestAlgorithm {
        switch alg.suffix(3) {
        case "384": .sha384
        case "512": .sha512
        default: .sha256
        }
    }
}

enum JWKSParser {
    /// Why a JWK was left out of the set.
    struct Skipped: Error, CustomStringConvertible {
        let description: String
    }

    /// Builds verification keys from a JWKS document. Bad entries are skipped with a log line; the rest still load.
    /// Returns `nil` when the document itself is not a JWKS (`{"keys": [...]}`).
    static func parse(
        _ body: some Collection<UInt8>,
        allowedAlgorithms: Set<String>,
        logger: Logger
    ) -> [String: VerificationKey]? {
        guard let document = JSONClaimValue(parsing: body), let entries = document["keys"]?.arrayValue else {
            return nil
        }
        var keys: [String: VerificationKey] = [:]
        for (index, entry) in entries.enumerated() {
            do {
                let key = try makeKey(entry, allowedAlgorithms: allowedAlgorithms)
                if keys[key.keyID] != nil {
                    throw Skipped(description: "duplicate kid '\(key.keyID)'")
                }
                keys[key.keyID] = key
            } catch {
                logger.warning(
                    "Skipping JWK",
                    metadata: [
                        "jwk.index": "\(index)", "jwk.kid": "\(entry["kid"]?.stringValue ?? "-")", "reason": "\(error)",
                    ]
                )
            }
        }
        return keys
    }

    /// A key from one JWK. `requireKeyID` is off for a DPoP proof's own `jwk`, which names no `kid`.
    static func makeKey(
        _ entry: JSONClaimValue,
        allowedAlgorithms: Set<String>,
        requireKeyID: Bool = true
    ) throws -> VerificationKey {
        guard case .object(let jwk) = entry else { throw Skipped(description: "not a JSON object") }
        let kid = jwk["kid"]?.stringValue ?? ""
        if requireKeyID, kid.isEmpty { throw Skipped(description: "no 'kid'") }
        if let use = jwk["use"] {
            guard use.stringValue == "sig" else { throw Skipped(description: "'use' is not 'sig'") }
        }
        if let operations = jwk["key_ops"] {
            guard operations.arrayValue?.contains(.string("verify")) == true else {
                throw Skipped(description: "'key_ops' does not allow 'verify'")
            }
        }
        guard let kty = jwk["kty"]?.stringValue else { throw Skipped(description: "no 'kty'") }
        let declaredAlgorithm = jwk["alg"]
        if let declaredAlgorithm, declaredAlgorithm.stringValue == nil {
            throw Skipped(description: "'alg' is not a string")
        }

        func string(_ name: String) throws -> String {
            guard let value = jwk[name]?.stringValue, !value.isEmpty else { throw Skipped(description: "no '\(name)'") }
            return value
        }

        /// The algorithms this key may verify: its family, narrowed to the JWK's `alg` and to the allowlist.
        func algorithms(_ family: Set<String>) throws -> [String] {
            var candidates = family
            if let alg = declaredAlgorithm?.stringValue {
                guard family.contains(alg) else { throw Skipped(description: "'alg' \(alg) does not fit kty \(kty)") }
                candidates = [alg]
            }
            let usable = candidates.intersection(allowedAlgorithms)
            guard !usable.isEmpty else { throw Skipped(description: "no allowed algorithm for this key") }
            return usable.sorted()
        }

        var verifiers: [String: SignatureVerifier] = [:]
        switch kty {
        case "RSA":
            let names = try algorithms(KeyFamily.rsa)
            guard let modulus = Base64URL.decode(Array(try string("n").utf8)),
                let exponent = Base64URL.decode(Array(try string("e").utf8))
            else {
                throw Skipped(description: "'n' or 'e' is not base64url")
            }
            let key: _RSA.Signing.PublicKey
            do {
                // swift-crypto refuses moduli under 2048 bits here.
                key = try _RSA.Signing.PublicKey(n: modulus, e: exponent)
            } catch {
                throw Skipped(description: "unusable RSA key (\(error))")
            }
            for name in names {
                verifiers[name] = .rsa(
                    key,
                    KeyFamily.digest(for: name),
                    name.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
                )
            }
        case "EC":
            let curve = try string("crv")
            let name: String
            let coordinateSize: Int
            switch curve {
            case "P-256": (name, coordinateSize) = ("ES256", 32)
            case "P-384": (name, coordinateSize) = ("ES384", 48)
            case "P-521": (name, coordinateSize) = ("ES512", 66)
            default: throw Skipped(description: "unsupported crv '\(curve)'")
            }
            _ = try algorithms([name])
            guard let x = Base64URL.decode(Array(try string("x").utf8)),
                let y = Base64URL.decode(Array(try string("y").utf8))
            else { throw Skipped(description: "'x' or 'y' is not base64url") }
            guard x.count == coordinateSize, y.count == coordinateSize else {
                throw Skipped(description: "'x' and 'y' of a \(curve) key must be \(coordinateSize) bytes each")
            }
            let point = x + y
            do {
                switch name {
                case "ES256": verifiers[name] = .p256(try P256.Signing.PublicKey(rawRepresentation: point))
                case "ES384": verifiers[name] = .p384(try P384.Signing.PublicKey(rawRepresentation: point))
                default: verifiers[name] = .p521(try P521.Signing.PublicKey(rawRepresentation: point))
                }
            } catch {
                throw Skipped(description: "unusable EC key (\(error))")
            }
        case "OKP":
            let curve = try string("crv")
            guard curve == "Ed25519" else { throw Skipped(description: "unsupported crv '\(curve)'") }
            _ = try algorithms(["EdDSA"])
            guard let x = Base64URL.decode(Array(try string("x").utf8)), x.count == 32 else {
                throw Skipped(description: "'x' of an Ed25519 key must be 32 bytes of base64url")
            }
            do {
                verifiers["EdDSA"] = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: x))
            } catch {
                throw Skipped(description: "unusable OKP key (\(error))")
            }
        default:
            throw Skipped(description: "unsupported kty '\(kty)'")
        }
        return VerificationKey(keyID: kid, keyType: kty, verifiers: verifiers)
    }

    /// The verifier for an HMAC secret.
    static func hmacKey(secret: String, allowedAlgorithms: Set<String>) -> VerificationKey? {
        let key = SymmetricKey(data: Array(secret.utf8))
        var verifiers: [String: SignatureVerifier] = [:]
        for name in KeyFamily.hmac.intersection(allowedAlgorithms) {
            verifiers[name] = .hmac(key, KeyFamily.digest(for: name))
        }
        return verifiers.isEmpty ? nil : VerificationKey(keyID: "", keyType: "oct", verifiers: verifiers)
    }
}
