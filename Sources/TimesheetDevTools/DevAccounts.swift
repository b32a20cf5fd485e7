import AuthKit
import AuthKitTesting
import Crypto
import Foundation
import TimesheetAPI
import TimesheetDomain

/// The seeded people and the machine client of dev mode, with the permissions their roles have in Auth0's RBAC.
package struct DevAccount: Sendable, Hashable {
    package var name: String
    package var subject: String
    package var email: String
    package var role: String
    package var permissions: [String]

    /// What employees and contractors may do with their own entries (``Scopes`` spells every scope).
    static let basic = Scopes.ownEntries

    package static let people: [DevAccount] = [
        DevAccount(
            name: "employee",
            subject: "auth0|dev-employee",
            email: "employee@exampleco.com",
            role: "Employee",
            permissions: basic
        ),
        DevAccount(
            name: "contractor",
            subject: "auth0|dev-contractor",
            email: "contractor@exampleco.com",
            role: "Contractor",
            permissions: basic
        ),
        DevAccount(
            name: "manager",
            subject: "auth0|dev-manager",
            email: "manager@exampleco.com",
            role: "Manager",
            permissions: basic + [Scopes.scope(for: .approve), Scopes.scope(for: .readReports), Scopes.readMessages]
        ),
    ]

    package static let machine = DevAccount(
        name: "machine",
        subject: "\(DevIdentityProvider.machineClientID)@clients",
        email: "",
        role: "Batch client",
        permissions: [Scopes.scope(for: .batchUpload)]
    )

    package static func named(_ name: String) -> DevAccount? {
        (people + [machine]).first { $0.name == name }
    }
}

/// Where dev mode keeps its signing key, so tokens survive restarts.
package struct DevSigningKey {
    let path: String

    package init(path: String) { self.path = path }

    /// Loads the key, or makes and stores one (also when `rotate` is set).
    package func load(rotate: Bool = false) throws -> TestTokenIssuer {
        let manager = FileManager.default
        try manager.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        if !rotate, let pem = try? String(contentsOfFile: path, encoding: .utf8) {
            return try TestTokenIssuer(keyID: Self.keyID(for: pem), rsaPrivateKeyPEM: pem)
        }
        let fresh = try TestTokenIssuer(keyID: "pending")
        let pem = fresh.privateKeyPEM
        guard
            manager.createFile(atPath: path + ".tmp", contents: Data(pem.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw DevModeError("cannot write \(path): make the folder writable or pass --data-dir")
        }
        _ = try? manager.removeItem(atPath: path)
        try manager.moveItem(atPath: path + ".tmp", toPath: path)
        return try TestTokenIssuer(keyID: Self.keyID(for: pem), rsaPrivateKeyPEM: pem)
    }

    /// A stable `kid` derived from the key, so a rotated key gets a new one.
    static func keyID(for pem: String) -> String {
        "dev-" + SHA256.hash(data: Data(pem.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}

/// The machine client's secret, random per data directory: a fixed, published secret would let anyone who can
/// reach a dev stack mint upload tokens.
package struct DevClientSecret {
    let path: String

    package init(path: String) { self.path = path }

    /// Loads the secret, or makes and stores one (readable by its owner only).
    package func load() throws -> String {
        if let stored = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        ),
            stored.utf8.count >= 16
        {
            return stored
        }
        let secret = AuthBase64URL.encode(Array(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }))
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data((secret + "\n").utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw DevModeError("cannot write \(path): make the folder writable or pass --data-dir")
        }
        return secret
    }

    /// Compares in time that does not depend on where the strings differ: both sides are hashed and swift-crypto
    /// compares digests in constant time, so the length of the guess leaks nothing either.
    static func matches(_ candidate: String?, _ secret: String) -> Bool {
        guard let candidate else { return false }
        return SHA256.hash(data: Data(candidate.utf8)) == SHA256.hash(data: Data(secret.utf8))
    }
}

/// A dev-mode failure with one clear message and a way out.
struct DevModeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Mints tokens shaped like Auth0's access tokens.
package struct DevTokenMinter: Sendable {
    let issuer: TestTokenIssuer
    let issuerURL: String
    let audience: String

    package init(issuer: TestTokenIssuer, issuerURL: String, audience: String) {
        self.issuer = issuer
        self.issuerURL = issuerURL
        self.audience = audience
    }

    static let emailClaim = "https://api.exampleco.com/email"

    /// - Parameters:
    ///   - subject: The `sub` claim; default the account's (the load benchmark mints tokens for many users).
    ///   - thumbprint: The RFC 7638 thumbprint of a DPoP key to bind the token to (`cnf.jkt`); `nil`: a Bearer token.
    package func token(
        for account: DevAccount,
        subject: String? = nil,
        scopes: [String]? = nil,
        lifetime: Duration = .seconds(86_400),
        clientID: String,
        boundTo thumbprint: String? = nil
    ) -> String {
        let granted = scopes ?? account.permissions
        var extra: [String: JSONClaimValue] = [
            "scope": .string(granted.joined(separator: " ")),
            "permissions": .array(granted.map(JSONClaimValue.string)),
            "azp": .string(clientID),
        ]
        if let thumbprint { extra["cnf"] = ["jkt": .string(thumbprint)] }
        if account == DevAccount.machine {
            extra["gty"] = "client-credentials"
        } else {
            extra[Self.emailClaim] = .string(account.email)
        }
        return issuer.mint(
            TestTokenIssuer.claims(
                issuer: issuerURL,
                audience: .array([.string(audience), .string(issuerURL + "userinfo")]),
                subject: subject ?? account.subject,
                lifetime: lifetime,
                extra: extra
            )
        )
    }
}
