import ArgumentParser
import AuthKit
import Configuration
import Foundation
import Testing

@testable import TimesheetAPI
@testable import TimesheetServer

/// Every AuthKit check reachable from settings (#18): several issuers, token profile, key fetching, required claims,
/// client allowlists, DPoP and PUBLIC_BASE_URL. Each invalid value stops start-up naming its setting.
@Suite struct AuthSettingsTests {
    let minimal = [
        "DATABASE_URL": "postgres://u@127.0.0.1/db", "AUTH_ISSUER": "https://tenant.auth0.com/",
        "AUTH_AUDIENCE": "https://api",
    ]

    func load(_ extra: [String: String]) throws(SettingError) -> ServerSettings {
        let environment = minimal.merging(extra) { $1 }
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        return try ServerSettings.load(from: reader)
    }

    /// The setting a start-up failure names, or `nil` when the settings loaded.
    func refusal(_ extra: [String: String]) -> String? {
        do {
            _ = try load(extra)
            return nil
        } catch {
            return error.setting
        }
    }

    @Test func defaultsAreAuthKitsDefaults() throws {
        let settings = try load([:])
        #expect(settings.auth.maximumTokenAge == nil)
        #expect(settings.auth.requireRFC9068 == false)
        #expect(settings.auth.jwksCacheTTL == .seconds(600))
        #expect(settings.auth.jwksCooldown == .seconds(30))
        #expect(settings.auth.jwksTimeout == .seconds(5))
        #expect(settings.auth.requiredClaims.isEmpty)
        #expect(settings.auth.dpop.mode == .allowed)
        #expect(settings.auth.dpop.issuedAtWindow == .seconds(60))
        #expect(settings.auth.dpop.nonceSecret == nil)
        #expect(settings.auth.dpop.algorithms == DPoPConfiguration.asymmetricAlgorithms)
        #expect(settings.publicBaseURL == nil)
        #expect(settings.clientAllowlists == ClientAllowlists())
    }

    @Test func severalIssuers() throws {
        let settings = try load(["AUTH_ISSUER": "https://login.exampleco.com/, https://exampleco.eu.auth0.com/"])
        #expect(settings.auth.issuers == ["https://login.exampleco.com/", "https://exampleco.eu.auth0.com/"])
        #expect(settings.auth.issuer == "https://login.exampleco.com/")
        // The aliases take lists too, and agree with AUTH_ISSUER whatever the order and the host's case.
        let aliased = try load([
            "AUTH_ISSUER": "", "AUTH0_DOMAIN": "login.exampleco.com,exampleco.eu.auth0.com",
            "ISSUER_BASE_URL": "https://ExampleCo.eu.auth0.com, https://login.exampleco.com",
        ])
        #expect(aliased.auth.issuers == ["https://login.exampleco.com/", "https://exampleco.eu.auth0.com/"])
        #expect(
            refusal(["AUTH_ISSUER": "https://a.example.com/,https://b.example.com/", "AUTH0_DOMAIN": "a.example.com"])
                == "AUTH_ISSUER"
        )
        #expect(refusal(["AUTH_ISSUER": "https://a.example.com/, https://A.example.com"]) == "AUTH_ISSUER")
        #expect(refusal(["AUTH_ISSUER": "https://a.example.com/, http://b.example.com/"]) == "AUTH_ISSUER")
        #expect(refusal(["AUTH_ISSUER": " , "]) == "AUTH_ISSUER")
        #expect(
            refusal([
                "AUTH_ISSUER": "https://a.example.com/,https://b.example.com/",
                "AUTH_JWKS_URL": "https://a.example.com/jwks.json",
            ]) == "AUTH_JWKS_URL"
        )
    }

    @Test func tokenProfileAndKeyFetching() throws {
        let settings = try load([
            "AUTH_MAX_TOKEN_AGE": "3600", "AUTH_STRICT_RFC9068": "on", "AUTH_JWKS_CACHE_MAX_AGE": "300",
            "AUTH_JWKS_COOLDOWN": "10", "AUTH_JWKS_TIMEOUT": "2",
        ])
        #expect(settings.auth.maximumTokenAge == .seconds(3600))
        #expect(settings.auth.requireRFC9068)
        #expect(settings.auth.jwksCacheTTL == .seconds(300))
        #expect(settings.auth.jwksCooldown == .seconds(10))
        #expect(settings.auth.jwksTimeout == .seconds(2))
        #expect(try load(["AUTH_STRICT_RFC9068": "false"]).auth.requireRFC9068 == false)
        for (name, value) in [
            ("AUTH_MAX_TOKEN_AGE", "0"), ("AUTH_MAX_TOKEN_AGE", "1h"), ("AUTH_STRICT_RFC9068", "yes"),
            ("AUTH_JWKS_CACHE_MAX_AGE", "59"), ("AUTH_JWKS_COOLDOWN", "0"), ("AUTH_JWKS_TIMEOUT", "61"),
        ] {
            #expect(refusal([name: value]) == name, "\(name)=\(value)")
        }
    }

    @Test func requiredClaims() throws {
        let claims = try load([
            "AUTH_REQUIRED_CLAIMS": #"email_verified=true, https://exampleco.com/roles~=staff, tier=2, code="12""#
        ]).auth.requiredClaims
        #expect(
            claims == [
                .equals("email_verified", true), .includes("https://exampleco.com/roles", "staff"),
                .equals("tier", 2), .equals("code", "12"),
            ]
        )
        for bad in ["email_verified", "=true", "roles~=", "roles~=a b"] {
            #expect(refusal(["AUTH_REQUIRED_CLAIMS": bad]) == "AUTH_REQUIRED_CLAIMS", "\(bad)")
        }
    }

    @Test func clientAllowlistsAndPublicBaseURL() throws {
        let settings = try load([
            "AUTH_CLIENT_IDS": "web, batch", "AUTH_UPLOAD_CLIENT_IDS": "batch",
            "PUBLIC_BASE_URL": "https://api.exampleco.com/",
        ])
        #expect(settings.clientAllowlists == ClientAllowlists(everyRoute: ["web", "batch"], batchUpload: ["batch"]))
        #expect(settings.publicBaseURL == "https://api.exampleco.com")
        #expect(try load(["PUBLIC_BASE_URL": "http://127.0.0.1:8080"]).publicBaseURL == "http://127.0.0.1:8080")
        for bad in ["api.exampleco.com", "http://api.exampleco.com", "https://api.exampleco.com/?x=1", "ftp://a/"] {
            #expect(refusal(["PUBLIC_BASE_URL": bad]) == "PUBLIC_BASE_URL", "\(bad)")
        }
    }

    @Test func dpop() throws {
        let settings = try load([
            "AUTH_DPOP": "Required", "AUTH_DPOP_ALGORITHMS": "es256, eddsa", "AUTH_DPOP_IAT_WINDOW": "30",
            "AUTH_DPOP_NONCE": "on", "AUTH_DPOP_NONCE_SECRET": String(repeating: "s", count: 32),
        ])
        #expect(settings.auth.dpop.mode == .required)
        #expect(settings.auth.dpop.algorithms == ["ES256", "EdDSA"])
        #expect(settings.auth.dpop.issuedAtWindow == .seconds(30))
        #expect(settings.auth.dpop.nonceSecret == Array(String(repeating: "s", count: 32).utf8))
        #expect(try load(["AUTH_DPOP": "off"]).auth.dpop.mode == .off)
        #expect(refusal(["AUTH_DPOP": "sometimes"]) == "AUTH_DPOP")
        for bad in ["HS256", "none", "ES256,RS999", " , "] {
            #expect(refusal(["AUTH_DPOP_ALGORITHMS": bad]) == "AUTH_DPOP_ALGORITHMS", "\(bad)")
        }
        #expect(refusal(["AUTH_DPOP_IAT_WINDOW": "0"]) == "AUTH_DPOP_IAT_WINDOW")
        #expect(refusal(["AUTH_DPOP_NONCE": "on"]) == "AUTH_DPOP_NONCE")
        #expect(refusal(["AUTH_DPOP_NONCE": "on", "AUTH_DPOP_NONCE_SECRET": "short"]) == "AUTH_DPOP_NONCE_SECRET")
        #expect(refusal(["AUTH_DPOP_NONCE_SECRET": String(repeating: "s", count: 32)]) == "AUTH_DPOP_NONCE_SECRET")
    }

    @Test func everyNewSettingHasAFlag() async throws {
        var options = try SettingsOptions.parse([
            "--auth-issuer", "https://a.example.com/,https://b.example.com/", "--auth-max-token-age", "60",
            "--auth-strict-rfc9068", "on", "--auth-jwks-cache-max-age", "120", "--auth-jwks-cooldown", "3",
            "--auth-jwks-timeout", "4", "--auth-required-claims", "email_verified=true", "--auth-client-ids", "web",
            "--auth-upload-client-ids", "batch", "--auth-dpop", "required", "--auth-dpop-algorithms", "ES256",
            "--auth-dpop-iat-window", "20", "--auth-dpop-nonce", "on", "--auth-dpop-nonce-secret",
            String(repeating: "n", count: 40), "--public-base-url", "https://api.example.com",
        ])
        options.envFile = "/nonexistent/.env"
        let settings = try ServerSettings.load(from: try await options.configReader(environment: minimal))
        #expect(settings.auth.issuers == ["https://a.example.com/", "https://b.example.com/"])
        #expect(settings.auth.maximumTokenAge == .seconds(60))
        #expect(settings.auth.requireRFC9068)
        #expect(settings.auth.jwksCacheTTL == .seconds(120))
        #expect(settings.auth.jwksCooldown == .seconds(3))
        #expect(settings.auth.jwksTimeout == .seconds(4))
        #expect(settings.auth.requiredClaims == [.equals("email_verified", true)])
        #expect(settings.clientAllowlists == ClientAllowlists(everyRoute: ["web"], batchUpload: ["batch"]))
        #expect(settings.auth.dpop.mode == .required)
        #expect(settings.auth.dpop.algorithms == ["ES256"])
        #expect(settings.auth.dpop.issuedAtWindow == .seconds(20))
        #expect(settings.auth.dpop.nonceSecret?.count == 40)
        #expect(settings.publicBaseURL == "https://api.example.com")
    }
}
