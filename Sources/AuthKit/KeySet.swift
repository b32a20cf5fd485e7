import Crypto
import CryptoExtras
import Foundation
import JWTKit
import Logging

/// One verification key: a `kid` and, for each algorithm it may check, a ready verifier.
///
/// RSA keys (the common case, and the hot path) are checked with swift-crypto's `_RSA` directly; EC and EdDSA keys
/// go through jwt-kit, whose `JWTKeyCollection` is only used while building a key, to obtain a `JWTAlgorithm`.
/// Verification is synchronous, with no actor hop and no default-key fallback.
struct VerificationKey: Sendable {
    let keyID: String
    let keyType: String
    let verifiers: [String: SignatureVerifier]
}

/// Checks one signature with one key and one algorithm.
enum SignatureVerifier: Sendable {
    case rsa(_RSA.Signing.PublicKey, DigestAlgorithm, _RSA.Signing.Padding)
    case jwtKit(any JWTAlgorithm)
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
        case .jwtKit(let algorithm):
            return (try? algorithm.verify(signature, signs: signingInput)) ?? false
        case .hmac(let key, let digest):
            switch digest {
            case .sha384: return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
            case .sha512: return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
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
    ) async -> [String: VerificationKey]? {
        guard let document = JSONClaimValue(parsing: body), let entries = document["keys"]?.arrayValue else {
            return nil
        }
        var keys: [String: VerificationKey] = [:]
        for (index, entry) in entries.enumerated() {
            do {
                let key = try await makeKey(entry, allowedAlgorithms: allowedAlgorithms)
                if keys[key.keyID] != nil {
                    throw Skipped(description: "duplicate kid '\(key.keyID)'")
                }
                keys[key.keyID] = key
            } catch {
                logger.warning(
                    "Skipping JWK",
                    metadata: ["jwk.index": "\(index)", "jwk.kid": "\(entry["kid"]?.stringValue ?? "-")", "reason": "\(error)"]
                )
            }
        }
        return keys
    }

    static func makeKey(_ entry: JSONClaimValue, allowedAlgorithms: Set<String>) async throws -> VerificationKey {
        guard case .object(let jwk) = entry else { throw Skipped(description: "not a JSON object") }
        guard let kid = jwk["kid"]?.stringValue, !kid.isEmpty else { throw Skipped(description: "no 'kid'") }
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
        if let declaredAlgorithm, declaredAlgorithm.stringValue == nil { throw Skipped(description: "'alg' is not a string") }

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

        let collection = JWTKeyCollection()
        let identifier = JWKIdentifier(string: kid)
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
                verifiers[name] = .rsa(key, KeyFamily.digest(for: name), name.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5)
            }
        case "EC":
            let curve = try string("crv")
            let x = try string("x")
            let y = try string("y")
            do {
                switch curve {
                case "P-256":
                    _ = try algorithms(["ES256"])
                    await collection.add(ecdsa: try ES256PublicKey(parameters: (x, y)), kid: identifier)
                    verifiers["ES256"] = .jwtKit(try await collection.getKey(for: identifier))
                case "P-384":
                    _ = try algorithms(["ES384"])
                    await collection.add(ecdsa: try ES384PublicKey(parameters: (x, y)), kid: identifier)
                    verifiers["ES384"] = .jwtKit(try await collection.getKey(for: identifier))
                case "P-521":
                    _ = try algorithms(["ES512"])
                    await collection.add(ecdsa: try ES512PublicKey(parameters: (x, y)), kid: identifier)
                    verifiers["ES512"] = .jwtKit(try await collection.getKey(for: identifier))
                default:
                    throw Skipped(description: "unsupported crv '\(curve)'")
                }
            } catch let error as Skipped {
                throw error
            } catch {
                throw Skipped(description: "unusable EC key (\(error))")
            }
        case "OKP":
            let curve = try string("crv")
            guard curve == "Ed25519" else { throw Skipped(description: "unsupported crv '\(curve)'") }
            _ = try algorithms(["EdDSA"])
            do {
                await collection.add(eddsa: try EdDSA.PublicKey(x: try string("x"), curve: .ed25519), kid: identifier)
            } catch let error as Skipped {
                throw error
            } catch {
                throw Skipped(description: "unusable OKP key (\(error))")
            }
            verifiers["EdDSA"] = .jwtKit(try await collection.getKey(for: identifier))
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
