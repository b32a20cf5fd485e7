import Foundation

/// Who a verified token speaks for, and what it may do.
public struct Principal: Sendable, Hashable {
    /// The `sub` claim.
    public let subject: String
    /// The value of the configured ``AuthConfiguration/userIDClaim`` (by default the same as `subject`).
    public let userID: String
    /// The union of the configured scope claims (`scope` split on spaces, `permissions` array).
    public let scopes: Set<String>
    /// `azp` or else `client_id`.
    public let clientID: String?
    /// A machine-to-machine token: `gty` is `client-credentials`, or `sub` ends with `@clients` (Auth0's markers).
    public let isMachine: Bool
    /// The `jti` claim.
    public let tokenID: String?
    /// The `exp` claim.
    public let expiresAt: Date
    /// The `iat` claim, when present.
    public let issuedAt: Date?
    /// The token's claims as parsed, in document order.
    let members: JSONMembers

    /// The RFC 7638 thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449), when it is DPoP-bound.
    public var confirmationThumbprint: String? { members["cnf"]?["jkt"]?.stringValue }

    /// `true` when the token has a `cnf` (confirmation) claim: it is bound to a key and is no Bearer token.
    public var isSenderConstrained: Bool { members["cnf"] != nil }

    /// The `iss` claim.
    public var issuer: String? { members["iss"]?.stringValue }

    /// Every claim of the token (built on each call; ``claim(_:)`` reads one without building the dictionary).
    public var claims: [String: JSONClaimValue] { members.dictionary }

    /// Any claim, including namespaced ones such as `https://api.example.com/email`.
    public func claim(_ name: String) -> JSONClaimValue? {
        members[name]
    }

    /// `true` when the principal holds every scope in the set.
    public func hasScopes(_ required: Set<String>) -> Bool {
        required.isSubset(of: scopes)
    }

    /// Builds a principal from claims that already passed verification; `nil` if `sub` is missing, or if the user-id
    /// claim is missing from a user's token or malformed in any token.
    ///
    /// A machine token never carries user claims (Auth0's client-credentials tokens hold no email, for instance), so
    /// when it lacks the user-id claim its id is its `sub`, the client's own identity. That fallback asks for more than
    /// the `isMachine` markers: `gty` `client-credentials`, or a `sub` that is exactly the token's own client id with
    /// `@clients` (Auth0's form), so a user whose `sub` merely ends in `@clients` cannot take a machine client's id.
    init?(claims: JSONMembers, userIDClaim: String, scopeClaims: [String], expiresAt: Date) {
        guard let subject = claims["sub"]?.stringValue else { return nil }
        let isMachine = Self.isMachineToken(claims: claims, subject: subject)
        let clientID = claims["azp"]?.stringValue ?? claims["client_id"]?.stringValue
        let identifiesAsClient =
            claims["gty"]?.stringValue == "client-credentials" || (clientID.map { subject == $0 + "@clients" } ?? false)
        let userID: String
        switch claims[userIDClaim] {
        case .string(let value): userID = value
        case .number(let value) where value == value.rounded() && abs(value) < 1e15: userID = String(Int64(value))
        case nil where identifiesAsClient: userID = subject
        default: return nil
        }
        var scopes = Set<String>(minimumCapacity: 16)
        for name in scopeClaims {
            switch claims[name] {
            case .string(let value):
                Self.forEachScope(in: value) { scopes.insert($0) }
            case .array(let values):
                for case .string(let value) in values where !value.isEmpty { scopes.insert(value) }
            default: break
            }
        }
        self.subject = subject
        self.userID = userID
        self.scopes = scopes
        self.clientID = clientID
        self.isMachine = isMachine
        self.tokenID = claims["jti"]?.stringValue
        self.expiresAt = expiresAt
        self.issuedAt = claims["iat"]?.numberValue.map { Date(timeIntervalSince1970: $0) }
        self.members = claims
    }
}

extension Principal {
    /// Auth0's markers of a machine-to-machine token: `gty` is `client-credentials`, or `sub` ends with `@clients`.
    static func isMachineToken(claims: JSONMembers, subject: String) -> Bool {
        claims["gty"]?.stringValue == "client-credentials" || subject.hasSuffix("@clients")
    }

    /// Calls `body` with each space-separated scope of an OAuth `scope` claim.
    ///
    /// Walks the UTF-8 bytes: splitting a `String` on a `Character` steps through grapheme clusters, which showed up in
    /// profiles of uncached verification.
    static func forEachScope(in value: String, _ body: (String) -> Void) {
        var value = value
        value.withUTF8 { bytes in
            var start = 0
            for index in 0...bytes.count where index == bytes.count || bytes[index] == UInt8(ascii: " ") {
                if index > start {
                    body(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
                }
                start = index + 1
            }
        }
    }
}

/// What a route demands of a principal's scopes.
public enum ScopeRequirement: Sendable, Hashable {
    /// Every one of the scopes.
    case all(Set<String>)
    /// At least one of the scopes.
    case any(Set<String>)

    /// `true` when the granted scopes satisfy the requirement. An empty `.all` is always met; an empty `.any` never is.
    public func isSatisfied(by granted: Set<String>) -> Bool {
        switch self {
        case .all(let required): required.isSubset(of: granted)
        case .any(let candidates): !candidates.isDisjoint(with: granted)
        }
    }

    var scopes: Set<String> {
        switch self {
        case .all(let scopes), .any(let scopes): scopes
        }
    }
}
