import ArgumentParser
import AuthKit
import AuthKitTesting
import Configuration
import Foundation
import Logging
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI
@testable import TimesheetDevTools
@testable import TimesheetServer

@Suite struct SettingsTests {
    func load(_ environment: [String: String], requireDatabase: Bool = true) throws(SettingError) -> ServerSettings {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        return try ServerSettings.load(from: reader, requireDatabase: requireDatabase)
    }

    let minimal = [
        "DATABASE_URL": "postgres://u@127.0.0.1/db", "AUTH_ISSUER": "https://tenant.auth0.com/",
        "AUTH_AUDIENCE": "https://api",
    ]

    @Test func defaultsAndRequiredSettings() throws {
        let settings = try load(minimal)
        #expect(settings.host == "127.0.0.1" && settings.port == 8080)
        #expect(settings.auth.algorithms == ["RS256"])
        #expect(settings.auth.userIDClaim == "sub")
        #expect(settings.auth.scopeClaims == ["scope", "permissions"])
        #expect(settings.auth.audiences == ["https://api"])
        #expect(settings.auth.tokenCacheSize == 10_000)
        #expect(settings.httpIdleTimeout == .seconds(60))
        #expect(try load(minimal.merging(["HTTP_IDLE_TIMEOUT": "5"]) { $1 }).httpIdleTimeout == .seconds(5))
        #expect(try load(minimal.merging(["AUTH_TOKEN_CACHE_SIZE": "0"]) { $1 }).auth.tokenCacheSize == 0)
        for missing in ["DATABASE_URL", "AUTH_ISSUER", "AUTH_AUDIENCE"] {
            var environment = minimal
            environment[missing] = nil
            #expect(throws: SettingError.self) { try load(environment) }
            do { _ = try load(environment) } catch { #expect(error.setting == missing) }
        }
    }

    @Test func theSeedsNamesAreAliases() throws {
        let settings = try load([
            "DATABASE_URL": "postgres://u@h/db", "AUTH0_DOMAIN": "tenant.auth0.com", "AUTH0_AUDIENCE": "a, b",
        ])
        #expect(settings.auth.issuer == "https://tenant.auth0.com/")
        #expect(settings.auth.audiences == ["a", "b"])
    }

    /// The names of Auth0's current Node middleware (express-oauth2-jwt-bearer).
    @Test func theNodeMiddlewaresNamesAreAliases() throws {
        let settings = try load([
            "DATABASE_URL": "postgres://u@h/db", "ISSUER_BASE_URL": "https://tenant.auth0.com",
            "AUDIENCE": "https://api.exampleco.com/timesheets", "TOKEN_SIGNING_ALG": "es512",
        ])
        #expect(settings.auth.issuer == "https://tenant.auth0.com/")
        #expect(settings.auth.audiences == ["https://api.exampleco.com/timesheets"])
        #expect(settings.auth.algorithms == ["ES512"])
        // The same value under two names is fine (a trailing slash on an issuer is not a difference).
        let same = try load(
            minimal.merging(["ISSUER_BASE_URL": "https://tenant.auth0.com", "AUTH0_AUDIENCE": "https://api"]) { $1 }
        )
        #expect(same.auth.issuer == "https://tenant.auth0.com/")
    }

    @Test func twoNamesWithDifferentValuesStopStartUp() {
        let conflicts: [([String: String], String, String)] = [
            (["ISSUER_BASE_URL": "https://other.auth0.com"], "AUTH_ISSUER", "ISSUER_BASE_URL"),
            (["AUTH0_DOMAIN": "other.auth0.com"], "AUTH_ISSUER", "AUTH0_DOMAIN"),
            (["AUDIENCE": "https://other"], "AUTH_AUDIENCE", "AUDIENCE"),
            (["AUTH0_AUDIENCE": "https://other"], "AUTH_AUDIENCE", "AUTH0_AUDIENCE"),
            (["AUTH_ALGORITHMS": "RS256", "TOKEN_SIGNING_ALG": "ES256"], "AUTH_ALGORITHMS", "TOKEN_SIGNING_ALG"),
        ]
        for (extra, first, second) in conflicts {
            do {
                _ = try load(minimal.merging(extra) { $1 })
                Issue.record("\(extra) was accepted")
            } catch {
                #expect(error.setting == first)
                #expect(error.message.contains(first) && error.message.contains(second), "\(error)")
            }
        }
    }

    @Test func everyAlgorithmAuthKitVerifiesIsAccepted() throws {
        for name in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] {
            let settings = try load(minimal.merging(["AUTH_ALGORITHMS": name]) { $1 })
            #expect(settings.auth.algorithms == [name])
        }
    }

    @Test func invalidValuesNameTheirSetting() {
        let cases: [(String, String)] = [
            ("PORT", "eighty"), ("PORT", "70000"), ("AUTH_ISSUER", "http://tenant.auth0.com/"),
            ("AUTH_ISSUER", "not a url"),
            ("AUTH_ALGORITHMS", "RS256,XS999"), ("AUTH_CLOCK_TOLERANCE", "-1"), ("AUTH_JWKS_REQUESTS_PER_MINUTE", "0"),
            ("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml"), ("CORS_ALLOWED_ORIGINS", "not-an-origin"),
            ("AUTH_JWKS_URL", "http://tenant.auth0.com/jwks.json"), ("AUTH_ISSUER", "http://127.evil.example/"),
            ("AUTH_HS256_SECRET", "short"), ("AUTH_TOKEN_CACHE_SIZE", "-1"), ("AUTH_TOKEN_CACHE_SIZE", "lots"),
            ("HTTP_IDLE_TIMEOUT", "soon"), ("HTTP_IDLE_TIMEOUT", "0"), ("HTTP_IDLE_TIMEOUT", "-5"),
            ("HTTP_IDLE_TIMEOUT", "1.5"),
            ("HTTP_IDLE_TIMEOUT", "3601"),
        ]
        for (name, value) in cases {
            var environment = minimal
            environment[name] = value
            do {
                _ = try load(environment)
                Issue.record("\(name)=\(value) was accepted")
            } catch {
                #expect(error.setting == name, "\(name)=\(value): \(error)")
            }
        }
    }

    @Test func loopbackIssuersMayUseHTTP() throws {
        var environment = minimal
        environment["AUTH_ISSUER"] = "http://127.0.0.1:8080/dev-idp/"
        #expect(try load(environment).auth.issuer == "http://127.0.0.1:8080/dev-idp/")
        environment["AUTH_ISSUER"] = "http://localhost:9000/"
        #expect(throws: Never.self) { try load(environment) }
    }

    @Test func sharedSecretSwitchesToHS256() throws {
        var environment = minimal
        environment["AUTH_HS256_SECRET"] = "a-long-enough-shared-secret-for-hs256"
        #expect(try load(environment).auth.algorithms == ["HS256"])
        environment["AUTH_ALGORITHMS"] = "RS256"
        do {
            _ = try load(environment)
            Issue.record("a secret with RS256 only was accepted")
        } catch {
            #expect(error.setting == "AUTH_ALGORITHMS")
        }
    }

    @Test func flagsWinOverTheEnvironment() async throws {
        var options = try SettingsOptions.parse([
            "--port", "9999", "--auth-issuer", "https://flag.example.com/", "--http-idle-timeout", "7",
        ])
        options.envFile = "/nonexistent/.env"
        let reader = try await options.configReader(environment: minimal.merging(["PORT": "1234"]) { $1 })
        let settings = try ServerSettings.load(from: reader)
        #expect(settings.port == 9999)
        #expect(settings.httpIdleTimeout == .seconds(7))
        #expect(settings.auth.issuer == "https://flag.example.com/")
        #expect(settings.databaseURL == minimal["DATABASE_URL"])
    }

    /// A flag speaks for every name of its setting: it wins over an inherited alias instead of conflicting with it.
    /// Without Auth0's RBAC option, `scope` holds whatever a client asked for: the browser client asks only for the
    /// OpenID scopes and a person's own-entry scopes, never approval or batch upload.
    @Test func theWebClientAsksOnlyForTheScopesItNeeds() {
        let scopes = Set(
            WebClient.Configuration(issuer: "https://t/", clientID: "c", audience: "a").scope.split(separator: " ")
                .map(String.init)
        )
        #expect(scopes == Set(["openid", "profile", "email", "offline_access"] + Scopes.ownEntries))
        #expect(!scopes.contains(Scopes.scope(for: .approve)) && !scopes.contains(Scopes.scope(for: .batchUpload)))
    }

    @Test func aFlagWinsOverEveryNameOfItsSetting() async throws {
        var options = try SettingsOptions.parse([
            "--auth-issuer", "https://flag.example.com/", "--auth-audience", "flag-api", "--auth-algorithms", "ES256",
        ])
        options.envFile = "/nonexistent/.env"
        let environment = minimal.merging([
            "ISSUER_BASE_URL": "https://env.example.com", "AUTH0_DOMAIN": "other.example.com", "AUDIENCE": "env-api",
            "TOKEN_SIGNING_ALG": "RS256",
        ]) { $1 }
        let settings = try ServerSettings.load(from: try await options.configReader(environment: environment))
        #expect(settings.auth.issuer == "https://flag.example.com/")
        #expect(settings.auth.audiences == ["flag-api"])
        #expect(settings.auth.algorithms == ["ES256"])
    }

    @Test func spellingsAgreeRegardlessOfHostCaseAndListOrder() throws {
        let settings = try load(
            minimal.merging([
                "ISSUER_BASE_URL": "https://TENANT.Auth0.com", "AUTH_AUDIENCE": "a,b", "AUDIENCE": "b, a",
            ]) { $1 }
        )
        #expect(settings.auth.issuer == "https://tenant.auth0.com/")
        #expect(settings.auth.audiences == ["a", "b"])
        do {
            _ = try load(minimal.merging(["ISSUER_BASE_URL": "https://tenant.auth0.com/other"]) { $1 })
            Issue.record("a different path was taken for the same issuer")
        } catch {
            #expect(error.setting == "AUTH_ISSUER")
        }
    }

    @Test func envFilesAreRead() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("test-\(UUID().uuidString).env")
        try "AUTH_AUDIENCE=from-file\nLOG_LEVEL=debug\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var options = try SettingsOptions.parse([])
        options.envFile = file.path
        var environment = minimal
        environment["AUTH_AUDIENCE"] = nil
        let settings = try ServerSettings.load(from: try await options.configReader(environment: environment))
        #expect(settings.auth.audiences == ["from-file"])
        #expect(settings.logLevel == .debug)
    }
}

@Suite struct DevToolTests {
    @Test func seedingRunsOnce() async throws {
        let repository = InMemoryTimesheetRepository()
        let today = CalendarDay(year: 2017, month: 5, day: 31)!
        let added = try await DevSeed.run(repository, today: today)
        #expect(added > 40)
        #expect(try await DevSeed.run(repository, today: today) == 0)
        #expect(await repository.count == added)
    }

    @Test func tokenLifetimes() {
        #expect(TokenCommand.lifetime("30m") == .seconds(1_800))
        #expect(TokenCommand.lifetime("2d") == .seconds(172_800))
        for bad in ["", "h", "1", "0h", "-1h", "1w"] { #expect(TokenCommand.lifetime(bad) == nil, "\(bad)") }
    }

    @Test func devTokensLookLikeAuth0s() throws {
        let issuer = try DevSigningKey(
            path: FileManager.default.temporaryDirectory.appendingPathComponent("k-\(UUID().uuidString)/key.pem").path
        ).load()
        let minter = DevTokenMinter(
            issuer: issuer,
            issuerURL: "http://127.0.0.1:8080/dev-idp/",
            audience: "https://api.exampleco.com/timesheets"
        )
        let token = minter.token(for: DevAccount.people[2], clientID: "timesheets-web")
        let payload = token.split(separator: ".")[1]
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let data = try #require(Data(base64Encoded: base64))
        let claims = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for claim in [
            "iss", "sub", "aud", "iat", "exp", "scope", "permissions", "azp", "https://api.exampleco.com/email",
        ] {
            #expect(claims[claim] != nil, "\(claim)")
        }
        #expect((claims["permissions"] as? [String])?.contains("approve:timesheets") == true)
        #expect((claims["aud"] as? [String])?.first == "https://api.exampleco.com/timesheets")
    }

    @Test func theDevKeySurvivesRestartsAndRotates() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("k-\(UUID().uuidString)/key.pem").path
        let first = try DevSigningKey(path: path).load()
        let again = try DevSigningKey(path: path).load()
        #expect(first.keyID == again.keyID && first.privateKeyPEM == again.privateKeyPEM)
        let rotated = try DevSigningKey(path: path).load(rotate: true)
        #expect(rotated.keyID != first.keyID)
    }
}

@Suite struct ReplicaSettingsTests {
    func testConfig(_ environment: [String: String]) -> ConfigReader {
        ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
    }

    @Test func standbyLagAndDrainAreSeconds() throws {
        let settings = try ServerSettings.load(
            from: testConfig([
                "DATABASE_URL": "postgres://u@127.0.0.1/db", "AUTH_ISSUER": "https://tenant.example.com/",
                "AUTH_AUDIENCE": "api", "DATABASE_READ_URL": "postgres://u@127.0.0.1:5433/db",
                "DATABASE_READ_MAX_LAG": "2.5", "SHUTDOWN_DRAIN": "3",
            ])
        )
        #expect(settings.databaseReadURL == "postgres://u@127.0.0.1:5433/db")
        #expect(settings.databaseReadMaxLag == .milliseconds(2_500))
        #expect(settings.shutdownDrain == .seconds(3))
        let defaults = try ServerSettings.load(
            from: testConfig([
                "DATABASE_URL": "postgres://u@127.0.0.1/db", "AUTH_ISSUER": "https://tenant.example.com/",
                "AUTH_AUDIENCE": "api",
            ])
        )
        #expect(defaults.databaseReadURL == nil)
        #expect(defaults.databaseReadMaxLag == .seconds(5))
        #expect(defaults.shutdownDrain == .zero)
    }

    @Test(arguments: [
        ("DATABASE_READ_MAX_LAG", "0"), ("DATABASE_READ_MAX_LAG", "soon"), ("DATABASE_READ_MAX_LAG", "nan"),
        ("SHUTDOWN_DRAIN", "-1"), ("SHUTDOWN_DRAIN", "61"), ("SHUTDOWN_DRAIN", "1e9"),
    ])
    func badDurationsNameTheirSetting(name: String, value: String) {
        do throws(SettingError) {
            _ = try ServerSettings.load(
                from: testConfig([
                    "DATABASE_URL": "postgres://u@127.0.0.1/db", "AUTH_ISSUER": "https://tenant.example.com/",
                    "AUTH_AUDIENCE": "api", name: value,
                ])
            )
            Issue.record("\(name)=\(value) was accepted")
        } catch {
            #expect(error.setting == name)
            #expect(error.message.contains("seconds"))
        }
    }
}
