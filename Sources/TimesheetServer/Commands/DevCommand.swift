import ArgumentParser
import AuthKit
import Foundation
import LocalPostgres
import Logging
import NIOCore
import NIOPosix
import TimesheetAPI
import TimesheetDevTools
import TimesheetDomain
import TimesheetStore

/// `timesheets dev`: the whole stack on this machine — a private PostgreSQL, a dev identity provider and the API.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract:
            "Run the whole stack locally: PostgreSQL under .data/, a dev identity provider, the API and web client.",
        discussion: "Needs only PostgreSQL's server binaries (apt-get install postgresql). "
            + "Set DATABASE_URL to use an existing database instead."
    )

    @OptionGroup var options: SettingsOptions
    @Option(help: "Where dev mode keeps its database and signing key.")
    var dataDir: String = ".data"
    @Flag(help: "Make a new signing key (tokens minted before stop working).")
    var rotateKey = false
    @Flag(help: "Fill a few weeks of entries for the seeded users (once; re-running adds nothing).")
    var seed = false
    @Option(
        help: """
            Secret of the machine client timesheets-batch \
            (default: random, kept in DATA_DIR/dev-machine-client-secret).
            """
    )
    var machineClientSecret: String?
    @Flag(
        help: """
            Listen on a non-loopback HOST anyway. Dev mode's identity provider signs in anyone as any seeded user and \
            its tokens are accepted by this API: only use this inside a container whose port is published on 127.0.0.1.
            """
    )
    var unsafeAllowRemoteDevLogin = false
    @Option(
        help: """
            Seconds the browser client's access tokens live (10 to 604800). The client renews them with one-time \
            refresh tokens before they expire; a short lifetime shows that happen.
            """
    )
    var webTokenLifetime: Int = 86_400

    static let audience = "https://api.exampleco.com/timesheets"

    func run() async throws {
        let started = ContinuousClock.now
        let environment = ProcessInfo.processInfo.environment
        var settings: ServerSettings
        do {
            settings = try ServerSettings.load(
                from: try await options.configReader(),
                requireDatabase: false,
                requireIssuer: false
            )
        } catch let error as SettingError {
            fail("\(error)")
        }
        let log = LogOutput(label: "timesheets-dev", format: settings.logFormat)
        defer { log.finish() }
        let logger = log.logger(level: settings.logLevel)
        if !ServerSettings.isLoopback(settings.host), !unsafeAllowRemoteDevLogin {
            fail(
                "dev mode listens on loopback only (HOST=\(settings.host) was given): "
                    + "its identity provider lets anyone sign in as any user. Use HOST=127.0.0.1, "
                    + "or pass --unsafe-allow-remote-dev-login inside a container "
                    + "whose port is published on 127.0.0.1 only."
            )
        }
        guard (10...604_800).contains(webTokenLifetime) else {
            fail("--web-token-lifetime must be 10 to 604800 seconds; \(webTokenLifetime) was given.")
        }
        try ensureWritable(dataDir)
        try await ensurePortFree(host: settings.host, port: settings.port)

        // The identity provider lives on the API's own port, under /dev-idp/.
        let issuerURL = "http://127.0.0.1:\(settings.port)/dev-idp/"
        let minter: DevTokenMinter
        do {
            let issuer = try DevSigningKey(path: dataDir + "/dev-idp-key.pem").load(rotate: rotateKey)
            minter = DevTokenMinter(issuer: issuer, issuerURL: issuerURL, audience: Self.audience)
        } catch {
            fail("could not load or create the dev signing key: \(error)")
        }
        let machineClientSecret: String
        do {
            machineClientSecret =
                try self.machineClientSecret ?? DevClientSecret(path: dataDir + "/dev-machine-client-secret").load()
        } catch {
            fail("could not load or create the dev client secret: \(error)")
        }
        let identityProvider = DevIdentityProvider(
            minter: minter,
            port: settings.port,
            machineClientSecret: machineClientSecret,
            webTokenLifetime: .seconds(webTokenLifetime)
        )
        settings.auth = DevCommand.authConfiguration(issuerURL: issuerURL, base: settings)
        settings.webClientID = DevIdentityProvider.webClientID
        if settings.corsAllowedOrigins.isEmpty {
            settings.corsAllowedOrigins = [
                "http://localhost:\(settings.port)", "http://127.0.0.1:\(settings.port)", "http://localhost:4200",
            ]
        }

        // PostgreSQL: DATABASE_URL if given, else a private cluster under .data/postgres.
        var cluster: LocalPostgresCluster?
        if settings.databaseURL == nil {
            // Durable: dev data survives restarts and crashes.
            // Never the API's own port: it is free until the server binds it, so the system could offer it.
            let local = LocalPostgresCluster(
                dataDirectory: dataDir + "/postgres",
                avoiding: [settings.port],
                durable: true,
                maxConnections: 100,
                logger: logger
            )
            do {
                // Through the Unix socket: the API and its PostgreSQL share this machine.
                try await local.start()
                settings.databaseURL = await local.socketURL
            } catch {
                fail("could not start PostgreSQL: \(error)", after: log)
            }
            cluster = local
        } else if environment["DATABASE_URL"] != nil {
            logger.info("using DATABASE_URL instead of a private cluster")
        }

        do {
            try await DevCommand.migrate(url: settings.databaseURL!, logger: logger)
            let server = APIServer(settings: settings, logger: logger)
            let seed = self.seed
            let port = settings.port
            let employeeToken = minter.token(for: DevAccount.people[0], clientID: DevIdentityProvider.webClientID)
            try await server.run(
                prefetchKeys: false,
                prepare: { repository in
                    guard seed else { return }
                    do {
                        let added = try await DevSeed.run(repository, today: CalendarDay(utcDayOf: Date()))
                        logger.info("seeded \(added) entries")
                    } catch {
                        logger.warning("could not seed entries: \(error)")
                    }
                },
                extraRoutes: { router in identityProvider.addRoutes(to: router) },
                onReady: { _ in
                    let elapsed = ContinuousClock.now - started
                    DevCommand.printBanner(
                        port: port,
                        token: employeeToken,
                        elapsed: elapsed,
                        secret: machineClientSecret
                    )
                }
            )
        } catch {
            if let cluster { try? await cluster.stop() }
            throw error
        }
        if let cluster { try await cluster.stop() }
    }

    /// Applies pending migrations, as `timesheets migrate up` would.
    static func migrate(url: String, logger: Logger) async throws {
        let configuration = try DatabaseConfiguration(url: url)
        let directory = try MigrationDirectory.locate(explicit: nil)
        let migrator = Migrator(
            configuration: configuration,
            directory: directory,
            logger: logger,
            output: { logger.info("\($0)") }
        )
        _ = try await migrator.up()
    }

    static func authConfiguration(issuerURL: String, base: ServerSettings) -> AuthConfiguration {
        var auth = AuthConfiguration(issuer: issuerURL, audiences: [audience])
        auth.userIDClaim = base.auth.userIDClaim
        auth.scopeClaims = base.auth.scopeClaims
        auth.tokenCacheSize = base.auth.tokenCacheSize
        return auth
    }

    static func printBanner(port: Int, token: String, elapsed: Duration, secret: String) {
        let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        let tokenRequest =
            #"{"grant_type":"client_credentials","client_id":"\#(DevIdentityProvider.machineClientID)","#
            + #""client_secret":"\#(secret)","audience":"\#(audience)"}"#
        let banner = """

            Timesheets dev stack ready in \(ms) ms.

              Open      http://127.0.0.1:\(port)/   (sign in as employee, contractor or manager)
              API docs  http://127.0.0.1:\(port)/openapi.json

              Try it as the employee:
                curl -H "Authorization: Bearer \(token)" http://127.0.0.1:\(port)/timesheets

              Machine client  timesheets-batch, secret \(secret)

              Mint other tokens:
                swift run timesheets token --user manager          (employee, contractor, manager, machine)
                curl -s -X POST http://127.0.0.1:\(port)/dev-idp/oauth/token -H 'content-type: application/json' \\
                  -d '\(tokenRequest)'

            Ctrl-C stops the API and PostgreSQL.

            """
        // Unbuffered, so it shows at once even when standard output is a pipe.
        FileHandle.standardOutput.write(Data(banner.utf8))
    }

    func ensureWritable(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            fail(
                "cannot create \(directory): \(error.localizedDescription). "
                    + "Make it writable or pass --data-dir /some/writable/dir."
            )
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            fail("\(directory) is not writable. Fix its permissions or pass --data-dir /some/writable/dir.")
        }
    }

    func ensurePortFree(host: String, port: Int) async throws {
        let socket = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port).get()
        guard let socket else {
            fail("port \(port) on \(host) is already in use. Stop what uses it, or pass --port 8081 (or PORT=8081).")
        }
        try? await socket.close().get()
    }

    /// Prints the message and exits with status 2; `log`'s waiting lines (the cluster's, say) are written first.
    func fail(_ message: String, after log: LogOutput? = nil) -> Never {
        log?.finish()
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        Foundation.exit(2)
    }
}
