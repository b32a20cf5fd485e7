import AuthKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A JWKS and OpenID discovery server on 127.0.0.1 (a free port), backed by a ``TestTokenIssuer``.
///
/// ```swift
/// try await JWKSTestServer.withRunning(issuer) { server in
///     var configuration = AuthConfiguration(issuer: server.issuerURL, audiences: ["api"])
///     ...
///     #expect(server.jwksRequestCount == 1)
/// }
/// ```
public struct JWKSTestServer: Sendable {
    /// How the server misbehaves.
    public enum FailureMode: Sendable, Equatable {
        /// Serve normally.
        case none
        /// 503 on every request (the provider is down).
        case unavailable
        /// 500 on every request.
        case serverError
        /// 200 with a body that is not JSON.
        case garbage
        /// Wait this long before answering normally.
        case hang(Duration)
    }

    private final class State: Sendable {
        struct Values {
            var port = 0
            var failureMode: FailureMode = .none
            var discoveryEnabled = true
            var discoveryOverrides: [String: JSONClaimValue] = [:]
            var cacheControl: String?
            var jwksRequests = 0
            var discoveryRequests = 0
        }
        let values = Mutex(Values())
    }

    /// The issuer whose keys are served.
    public let issuer: TestTokenIssuer
    /// The bound port.
    public let port: Int
    private let state: State

    /// `http://127.0.0.1:PORT/` (with a trailing slash, as Auth0 writes issuers).
    public var issuerURL: String { "http://127.0.0.1:\(port)/" }
    /// The JWKS endpoint, `ISSUER/.well-known/jwks.json`.
    public var jwksURL: URL { URL(string: "http://127.0.0.1:\(port)/.well-known/jwks.json")! }
    /// JWKS requests served so far (failed ones included).
    public var jwksRequestCount: Int { state.values.withLock { $0.jwksRequests } }
    /// Discovery requests served so far.
    public var discoveryRequestCount: Int { state.values.withLock { $0.discoveryRequests } }

    /// Makes both endpoints fail (or recover with `.none`).
    public func setFailureMode(_ mode: FailureMode) {
        state.values.withLock { $0.failureMode = mode }
    }

    /// When disabled, discovery answers 404 (as on an Auth0-like provider without it).
    public func setDiscoveryEnabled(_ enabled: Bool) {
        state.values.withLock { $0.discoveryEnabled = enabled }
    }

    /// Replaces members of the discovery document (`issuer`, `jwks_uri`...), as a hostile or misconfigured
    /// provider would serve them; `.null` removes a member.
    public func setDiscoveryOverrides(_ members: [String: JSONClaimValue]) {
        state.values.withLock { $0.discoveryOverrides = members }
    }

    /// The `Cache-Control` header sent with the JWKS; `nil` sends none.
    public func setCacheControl(_ value: String?) {
        state.values.withLock { $0.cacheControl = value }
    }

    /// Runs the server for the duration of `body`, then stops it.
    public static func withRunning<Result: Sendable>(
        _ issuer: TestTokenIssuer,
        logger: Logger = Logger(label: "JWKSTestServer", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (JWKSTestServer) async throws -> Result
    ) async throws -> Result {
        let state = State()
        let router = Router()
        router.get(".well-known/openid-configuration") { _, _ -> Response in
            let (values, failure) = state.values.withLock { values in
                values.discoveryRequests += 1
                return (values, values.failureMode)
            }
            if let response = try await Self.failureResponse(failure) { return response }
            guard values.discoveryEnabled else { return Response(status: .notFound) }
            let base = "http://127.0.0.1:\(values.port)/"
            var document: [String: JSONClaimValue] = [
                "issuer": .string(base),
                "jwks_uri": .string(base + ".well-known/jwks.json"),
                "id_token_signing_alg_values_supported": ["RS256"],
            ]
            for (name, value) in values.discoveryOverrides { document[name] = value == .null ? nil : value }
            return Self.json(JSONClaimValue.object(document).jsonBytes, cacheControl: nil)
        }
        router.get(".well-known/jwks.json") { _, _ -> Response in
            let (values, failure) = state.values.withLock { values in
                values.jwksRequests += 1
                return (values, values.failureMode)
            }
            if let response = try await Self.failureResponse(failure) { return response }
            return Self.json(Array(issuer.jwks()), cacheControl: values.cacheControl)
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "JWKSTestServer"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await app.runService(gracefulShutdownSignals: [])
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else {
                group.cancelAll()
                throw CancellationError()
            }
            state.values.withLock { $0.port = port }
            let server = JWKSTestServer(issuer: issuer, port: port, state: state)
            do {
                let result = try await body(server)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    private static func failureResponse(_ mode: FailureMode) async throws -> Response? {
        switch mode {
        case .none: return nil
        case .unavailable: return Response(status: .serviceUnavailable)
        case .serverError: return Response(status: .internalServerError)
        case .garbage: return json(Array("<html>this is not JSON".utf8), cacheControl: nil)
        case .hang(let duration):
            try await Task.sleep(for: duration)
            return nil
        }
    }

    private static func json(_ bytes: [UInt8], cacheControl: String?) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let cacheControl { headers[.cacheControl] = cacheControl }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
