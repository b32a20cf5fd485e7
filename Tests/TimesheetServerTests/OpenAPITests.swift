import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI

/// The served OpenAPI document matches the router exactly, and each operation's declared scope is the one the
/// route enforces.
@Suite struct OpenAPITests {
    static func document() throws -> [String: Any] {
        // The bundled copy: exactly what GET /openapi.json serves.
        let url = try #require(Bundle.module.url(forResource: "openapi", withExtension: "json"))
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// `METHOD /path/{}` for every documented operation.
    static func documentedOperations() throws -> Set<String> {
        let paths = try #require(document()["paths"] as? [String: [String: Any]])
        var operations = Set<String>()
        for (path, item) in paths {
            for method in item.keys where method != "parameters" {
                operations.insert("\(method.uppercased()) \(normalise(path))")
            }
        }
        return operations
    }

    static func normalise(_ path: String) -> String {
        path.replacingOccurrences(of: #"\{[a-z_]+\}|:[a-z_]+"#, with: "{}", options: .regularExpression)
    }

    /// Routes of the browser client, which are pages rather than API operations.
    static let webRoutes: Set<String> = ["GET /", "GET /app/{}", "GET /config.json"]

    @Test func everyRouteIsDocumentedAndEveryOperationIsServed() throws {
        let authenticator = BearerAuthenticator(
            configuration: AuthConfiguration(issuer: "http://127.0.0.1:1/", audiences: [apiAudience]),
            httpClient: HTTPClient.shared,
            logger: Logger(label: "test")
        )
        let router = buildRouter(
            RouterDependencies(
                timesheets: TimesheetService(repository: InMemoryTimesheetRepository()),
                identities: BearerIdentityVerifier(authenticator: authenticator, metrics: ServerMetrics()),
                readiness: [],
                metrics: ServerMetrics()
            )
        )
        let served = Set(
            router.routes.map {
                "\($0.method.rawValue) \(Self.normalise("\($0.path)".hasPrefix("/") ? "\($0.path)" : "/\($0.path)"))"
            }
        )
        .subtracting(Self.webRoutes)
        let documented = try Self.documentedOperations()
        #expect(
            served.subtracting(documented).isEmpty,
            "served but not documented: \(served.subtracting(documented).sorted())"
        )
        #expect(
            documented.subtracting(served).isEmpty,
            "documented but not served: \(documented.subtracting(served).sorted())"
        )
        #expect(served.count == 21)
    }

    @Test func eachOperationEnforcesItsDeclaredScope() async throws {
        let paths = try #require(Self.document()["paths"] as? [String: [String: Any]])
        var secured: [(path: String, method: String, scope: String)] = []
        for (path, item) in paths {
            for (method, value) in item where method != "parameters" {
                if let operation = value as? [String: Any], let scope = operation["x-required-scope"] as? String {
                    secured.append((path, method, scope))
                }
            }
        }
        #expect(secured.count == 14)
        try await APIHarness.run { [secured] api, client in
            // A valid token with no scopes at all.
            let bare = api.issuer.mint(
                TestTokenIssuer.claims(
                    issuer: api.server.issuerURL,
                    audience: .string(apiAudience),
                    extra: ["scope": ""]
                )
            )
            for (path, method, scope) in secured {
                let uri = path.replacingOccurrences(of: "{id}", with: "1")
                let httpMethod = try #require(HTTPRequest.Method(method.uppercased()))
                try await client.execute(
                    uri: uri,
                    method: httpMethod,
                    headers: [.authorization: "Bearer \(bare)", .contentType: "application/json"],
                    body: body("{}")
                ) { response in
                    #expect(response.status == .forbidden, "\(method) \(path)")
                    #expect(
                        response.headers[.wwwAuthenticate]?.contains(#"scope="\#(scope)""#) == true,
                        "\(method) \(path) needs \(scope)"
                    )
                }
                try await client.execute(uri: uri, method: httpMethod) { response in
                    #expect(response.status == .unauthorized, "\(method) \(path) without a token")
                }
            }
        }
    }
}
