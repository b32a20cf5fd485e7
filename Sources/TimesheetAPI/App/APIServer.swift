import AsyncHTTPClient
import AuthKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import TimesheetDomain
import TimesheetStore
import UnixSignals

/// Composes the deployed service: the PostgreSQL store, AuthKit verifier, domain service and router, run as one
/// service group that shuts down gracefully on SIGTERM and SIGINT.
package struct APIServer {
    var settings: ServerSettings
    var logger: Logger

    package init(settings: ServerSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// The HTTP decoder's default limit on a request's line and headers together.
    static let headLimit = 80 * 1024

    /// Runs until a shutdown signal arrives. `extraRoutes` is dev mode's hook; `serve` passes none.
    /// `onReady` is called with the bound port once the server accepts connections.
    package func run(
        prefetchKeys: Bool = true,
        prepare: @escaping @Sendable (PostgresTimesheetRepository) async throws -> Void = { _ in },
        extraRoutes: @escaping (Router<AppRequestContext>) -> Void = { _ in },
        onReady: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        guard let databaseURL = settings.databaseURL else {
            throw SettingError(setting: "DATABASE_URL", message: "is required")
        }
        let database: DatabaseConfiguration
        do {
            database = try DatabaseConfiguration(url: databaseURL)
        } catch {
            throw SettingError(setting: "DATABASE_URL", message: error.description)
        }
        var standbyDatabase: DatabaseConfiguration?
        if let readURL = settings.databaseReadURL {
            do {
                standbyDatabase = try DatabaseConfiguration(url: readURL)
            } catch {
                throw SettingError(setting: "DATABASE_READ_URL", message: error.description)
            }
        }
        let store = try PostgresStore(
            configuration: database,
            standby: standbyDatabase,
            maxReadLag: settings.databaseReadMaxLag,
            logger: logger
        )
        let drain = DrainState()
        let repository = store.repository
        // Discovery and JWKS answers are trusted only from the issuer's own origin (AuthKit checks the discovered URL);
        // a redirect could send the fetch elsewhere after that check, so none is followed.
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let metrics = ServerMetrics()
        let authenticator = BearerAuthenticator(
            configuration: settings.auth,
            httpClient: httpClient,
            logger: logger,
            metricsFactory: metrics.metricsFactory,
            replayStore: PostgresDPoPReplayStore(store.proofReplay)
        )

        let dependencies = RouterDependencies(
            timesheets: TimesheetService(
                repository: MeasuredRepository(repository, metrics: metrics, poolSize: database.poolSize)
            ),
            identities: BearerIdentityVerifier(
                authenticator: authenticator,
                metrics: metrics,
                publicBaseURL: settings.publicBaseURL
            ),
            readiness: [DrainingCheck(state: drain), DatabaseCheck(timeout: database.queryTimeout, ping: store.ping)]
                + SigningKeysCheck.each(of: authenticator)
                + (store.standby.map { [StandbyCheck(standby: $0)] } ?? []),
            metrics: metrics,
            corsAllowedOrigins: settings.corsAllowedOrigins,
            bodyLimit: settings.bodyLimit,
            batchBodyLimit: settings.batchBodyLimit,
            webClient: settings.webClientID.map {
                var configuration = WebClient.Configuration(
                    issuer: settings.auth.issuer,
                    clientID: $0,
                    audience: settings.auth.audiences.first ?? ""
                )
                configuration.dpop = settings.auth.dpop.mode != .off
                return configuration
            },
            reads: store.standby.map { StandbyReadConsistency(standby: $0) },
            clientAllowlists: settings.clientAllowlists
        )
        if let standby = store.standby { metrics.observe(standby) }
        let router = buildRouter(dependencies, extraRoutes: extraRoutes)

        var app = Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [
                        OversizedHeadHandler(limit: Self.headLimit), CloseWhileDrainingHandler(state: drain),
                    ],
                    // Hummingbird's connection state handler closes a connection once no request part has arrived for
                    // this long (and no response is being written). A head counts only when complete, so a client that
                    // sends half a head and stops, or trickles it, is closed too.
                    idleTimeout: TimeAmount(settings.httpIdleTimeout)
                )
            ),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "timesheets"),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        app.beforeServerStarts { try await prepare(repository) }
        if prefetchKeys {
            app.beforeServerStarts { [logger, authenticator] in
                // Load the signing keys before taking traffic; if the provider is down, readiness says so and the
                // verifier keeps trying on demand.
                do {
                    try await authenticator.prefetchKeys()
                } catch {
                    logger.warning("could not load signing keys at start-up", metadata: ["error": .string("\(error)")])
                }
            }
        }

        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: store),
                .init(service: HTTPClientService(client: httpClient)),
                .init(service: app),
                // Last, so that it is told of a shutdown first: readiness goes red before the listener closes.
                .init(service: DrainService(state: drain, duration: settings.shutdownDrain)),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        )
        // In-flight requests get this long to finish after SIGTERM (and the drain); then the rest is cancelled.
        configuration.maximumGracefulShutdownDuration = .seconds(25) + settings.shutdownDrain
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// Shuts the HTTP client down when the service group stops.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// Ready when the database answers within the query timeout.
///
/// The bound is the store's own deadline, not a task group: a task group waits for a child that ignores
/// cancellation, and a PostgresNIO query on a connection that closed in the same moment can be such a child
/// (`Sources/TimesheetStore/Deadline.swift` explains why).
struct DatabaseCheck: ReadinessCheck {
    let timeout: Duration
    let ping: @Sendable () async throws -> Void
    var name: String { "database" }

    func problem() async -> String? {
        do {
            try await withDeadline(timeout, ping)
            return nil
        } catch {
            return "PostgreSQL is not answering"
        }
    }
}

/// AuthKit's replay store on the database: every replica refuses a DPoP proof that any replica already accepted.
struct PostgresDPoPReplayStore: DPoPReplayStore {
    let table: PostgresProofReplayTable

    init(_ table: PostgresProofReplayTable) {
        self.table = table
    }

    func recordFirstUse(of key: String, expiresAt: Date, now: Date) async throws -> Bool {
        try await table.recordFirstUse(of: key, expiresAt: expiresAt, now: now)
    }
}

extension StoreError: DependencyError {
    var clientMessage: String { "The database is unavailable; retry shortly." }
}
