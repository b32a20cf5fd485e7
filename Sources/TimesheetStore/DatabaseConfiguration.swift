import Foundation
import NIOCore
import PostgresNIO

/// Connection settings read from one `DATABASE_URL`.
///
/// Accepted forms (`postgres://` or `postgresql://`):
/// - `postgres://user:pass@host:5432/db?sslmode=require`
/// - `postgres://user@[::1]:5433/db`
/// - `postgres://user@%2Fvar%2Frun%2Fpostgresql/db` or `postgres://user@/db?host=/var/run/postgresql` (Unix socket:
///   a directory holding `.s.PGSQL.<port>`, or the socket file itself)
///
/// Query parameters: `sslmode` (`disable`, `prefer`, `require`, `verify-full`; default `prefer`), `sslrootcert`
/// (a PEM file of trusted roots for `verify-full`), `pool_size` or `max_connections` (default 4 per core),
/// `pool_per_event_loop`, `keep_connections_open` (default true, ``keepsConnectionsOpen``), `batch_reads` (default
/// true, ``batchesReads``), `batch_creates` (default true, ``batchesCreates``), `query_timeout` (`5s`, `500ms` or
/// seconds; default 5 s), `connect_timeout` (seconds, default 10), `application_name`, `host`,
/// `port`, `user`, `password`, `dbname`. Anything else is an error, so a typo never goes unnoticed.
public struct DatabaseConfiguration: Sendable, Hashable {
    /// Where the server listens.
    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        /// The full path of the socket file, e.g. `/var/run/postgresql/.s.PGSQL.5432`.
        case unixSocket(path: String)
    }

    /// How the connection uses TLS, as libpq's `sslmode`.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable
        /// TLS when the server offers it, without verifying its certificate.
        case prefer
        /// TLS always, without verifying the certificate (libpq's meaning of `require`).
        case require
        /// TLS always, with the certificate chain and host name verified.
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// A PEM file of trusted root certificates; the system's roots when `nil`.
    public var trustRootsFile: String?
    /// The most connections the pool opens.
    public var poolSize: Int
    /// The pool size when none is given: four connections per CPU core of this machine (8 on 2 cores).
    ///
    /// Why not PostgresNIO's 20: where PostgreSQL shares the machine, every extra backend competes with the event
    /// loops for the same cores. On 2 cores, 8 connections against 20 gave the reads the same or more requests per
    /// second, p99 13-18 ms instead of 15-45 ms, and 77 MB of memory instead of 90-104 MB; durable creates had a lower
    /// p99, and their rate went up or down with the hour's fsync rate, within the spread of each alternated pair
    /// (fewer commits share each WAL flush; `benchmarks/results/README.md`, issue #16's fourth session). A write-heavy
    /// load, or a PostgreSQL with cores of its own, may want more: `pool_size` in `DATABASE_URL`.
    public static let defaultPoolSize = 4 * System.coreCount
    /// One pool per event loop, `poolSize` shared out among them (see ``PostgresPools``); `false` is one pool.
    public var poolPerEventLoop: Bool
    /// Every connection of the pool stays open, with no timer per connection handed back (`keep_connections_open`).
    ///
    /// Why: PostgresNIO's pool starts two timers each time a connection goes back idle (the idle timeout for
    /// connections above its minimum, and the keep-alive ping), each a task group of two tasks and a clock sleep
    /// that stays scheduled after it is cancelled. Through the server that cost 20-65 µs of CPU per list request
    /// and a p99 of 29-59 ms at 16 connections against 4-6 ms without (benchmarks/results/README.md, issue #16's
    /// sixth session). With this on, the pool opens all `poolSize` connections, keeps them (minimum = maximum), and
    /// pings none; over TCP, PostgreSQL's own keep-alive probes (`tcp_keepalives_idle` 60 s, every 10 s, 6 probes,
    /// sent as startup parameters) keep idle connections alive through firewalls and NAT and close dead ones. `false`
    /// gives PostgresNIO's defaults: connections opened on demand, closed after 60 s idle, pinged every 30 s.
    public var keepsConnectionsOpen: Bool
    /// Reads of a user's first page, and of the review queue's pages, that wait for a busy pool are answered
    /// together, one statement per batch (`batch_reads`; see ``StatementBatcher``). `false`: one statement per read.
    public var batchesReads: Bool
    /// Single new entries (`POST /timesheets`) that wait for a busy pool are inserted together, one statement and
    /// one commit per batch (`batch_creates`; see ``StatementBatcher``); a batch the database refuses (a day above
    /// 24 hours, say) runs each entry alone, so only the refused one fails. `false`: one statement per entry.
    public var batchesCreates: Bool
    /// The longest one store operation may take, including waiting for a connection; also the server-side
    /// `statement_timeout`.
    public var queryTimeout: Duration
    public var connectTimeout: Duration
    public var applicationName: String

    public init(
        endpoint: Endpoint,
        username: String,
        password: String? = nil,
        database: String,
        tls: TLSMode = .prefer,
        trustRootsFile: String? = nil,
        poolSize: Int = DatabaseConfiguration.defaultPoolSize,
        poolPerEventLoop: Bool = true,
        keepsConnectionsOpen: Bool = true,
        batchesReads: Bool = true,
        batchesCreates: Bool = true,
        queryTimeout: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(10),
        applicationName: String = "timesheets"
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.trustRootsFile = trustRootsFile
        self.poolSize = poolSize
        self.poolPerEventLoop = poolPerEventLoop
        self.keepsConnectionsOpen = keepsConnectionsOpen
        self.batchesReads = batchesReads
        self.batchesCreates = batchesCreates
        self.queryTimeout = queryTimeout
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
    }

    /// What is wrong with a `DATABASE_URL`. The message never repeats the password.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = "Invalid DATABASE_URL: " + description }
    }

    /// The URL with the password replaced by `***`, for logs.
    public var redactedDescription: String {
        let credentials = username + (password == nil ? "" : ":***")
        let location: String
        switch endpoint {
        case .tcp(let host, let port): location = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path): location = "unix:\(path)"
        }
        return "postgres://\(credentials)@\(location)/\(database)?sslmode=\(tls.rawValue)&pool_size=\(poolSize)"
    }

    // MARK: PostgresNIO configurations

    /// A pool configuration with `statement_timeout` set to ``queryTimeout``.
    public func makeClientConfiguration() throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = PostgresClient.Configuration(
                host: host,
                port: port,
                username: username,
                password: password,
                database: database,
                tls: try clientTLS()
            )
        case .unixSocket(let path):
            configuration = PostgresClient.Configuration(
                unixSocketPath: path,
                username: username,
                password: password,
                database: database
            )
        }
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = connectTimeout
        var parameters = startupParameters(statementTimeout: queryTimeout)
        if keepsConnectionsOpen {
            configuration.options.minimumConnections = poolSize
            configuration.options.keepAliveBehavior = nil
            if case .tcp = endpoint { parameters += Self.serverKeepAliveParameters }
        }
        configuration.options.additionalStartupParameters = parameters
        return configuration
    }

    /// A single-connection configuration, as the migrator uses; no statement timeout unless given.
    public func makeConnectionConfiguration(
        statementTimeout: Duration? = nil
    ) throws
        -> PostgresConnection.Configuration
    {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration()))
            case .require, .verifyFull: tls = .require(try NIOSSLContext(configuration: tlsConfiguration()))
            }
            configuration = PostgresConnection.Configuration(
                host: host,
                port: port,
                username: username,
                password: password,
                database: database,
                tls: tls
            )
        case .unixSocket(let path):
            configuration = PostgresConnection.Configuration(
                unixSocketPath: path,
                username: username,
                password: password,
                database: database
            )
        }
        configuration.options.connectTimeout = .nanoseconds(
            Int64(connectTimeout.components.seconds) * 1_000_000_000 + connectTimeout.components.attoseconds
                / 1_000_000_000
        )
        configuration.options.additionalStartupParameters = startupParameters(statementTimeout: statementTimeout)
        return configuration
    }

    /// PostgreSQL's TCP keep-alive probes on a pooled connection that is kept open (``keepsConnectionsOpen``): the
    /// first after 60 s idle, then every 10 s, and the connection closed after 6 unanswered.
    static let serverKeepAliveParameters = [
        ("tcp_keepalives_idle", "60"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "6"),
    ]

    private func startupParameters(statementTimeout: Duration?) -> [(String, String)] {
        var parameters = [("application_name", applicationName)]
        if let statementTimeout {
            parameters.append(("statement_timeout", "\(Self.milliseconds(statementTimeout))ms"))
        }
        return parameters
    }

    private func tlsConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch tls {
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            if let trustRootsFile { configuration.trustRoots = .file(trustRootsFile) }
        case .disable, .prefer, .require:
            configuration.certificateVerification = .none
        }
        return configuration
    }

    private func clientTLS() throws -> PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration())
        case .require, .verifyFull: .require(tlsConfiguration())
        }
    }

    // MARK: Durations

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// `5s`, `500ms`, `2m` or a plain number of seconds.
    static func duration(_ text: String) -> Duration? {
        if text.hasSuffix("ms"), let value = Int64(text.dropLast(2)) { return .milliseconds(value) }
        if text.hasSuffix("s"), let value = Double(text.dropLast()) { return .milliseconds(Int64(value * 1_000)) }
        if text.hasSuffix("m"), let value = Int64(text.dropLast()) { return .seconds(value * 60) }
        if let value = Double(text) { return .milliseconds(Int64(value * 1_000)) }
        return nil
    }
}
