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
/// (a PEM file of trusted roots for `verify-full`), `pool_size` or `max_connections` (default 20), `query_timeout`
/// (`5s`, `500ms` or seconds; default 5 s), `connect_timeout` (seconds, default 10), `application_name`, `host`,
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
    /// The longest one store operation may take, including waiting for a connection; also the server-side
    /// `statement_timeout`.
    public var queryTimeout: Duration
    public var connectTimeout: Duration
    public var applicationName: String

    public init(
        endpoint: Endpoint, username: String, password: String? = nil, database: String, tls: TLSMode = .prefer,
        trustRootsFile: String? = nil, poolSize: Int = 20, queryTimeout: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(10), applicationName: String = "timesheets"
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.trustRootsFile = trustRootsFile
        self.poolSize = poolSize
        self.queryTimeout = queryTimeout
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
    }

    /// What is wrong with a `DATABASE_URL`. The message never repeats the password.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = "Invalid DATABASE_URL: " + description }
    }

    /// Parses a `postgres://` URL.
    /// - Parameter url: The URL, e.g. the `DATABASE_URL` environment variable.
    public init(url: String) throws(ParseError) {
        let text = url.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ParseError("it is empty; expected postgres://user:password@host:port/database") }
        var rest: Substring
        if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else {
            throw ParseError("it must start with postgres:// or postgresql://")
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        var queryText: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        var pathText: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            pathText = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring?
        var hostPort = rest
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
        }

        var username: String?
        var password: String?
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                username = try Self.decode(userInfo[..<colon], "the user name")
                password = try Self.decode(userInfo[userInfo.index(after: colon)...], "the password")
            } else {
                username = try Self.decode(userInfo, "the user name")
            }
        }

        var host: String?
        var port: Int?
        if hostPort.contains(",") {
            throw ParseError("several hosts are not supported; give one host")
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw ParseError("the IPv6 host has no closing ']'")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ParseError("unexpected text after the IPv6 host") }
                port = try Self.port(after.dropFirst())
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = try Self.decode(hostPort[..<colon], "the host")
            port = try Self.port(hostPort[hostPort.index(after: colon)...])
        } else if !hostPort.isEmpty {
            host = try Self.decode(hostPort, "the host")
        }
        if host?.isEmpty == true { host = nil }

        var database = pathText.isEmpty ? nil : try Self.decode(pathText, "the database name")
        if database?.contains("/") == true {
            throw ParseError("the database name must not contain '/'")
        }

        var tls = TLSMode.prefer
        var trustRootsFile: String?
        var poolSize = 20
        var queryTimeout = Duration.seconds(5)
        var connectTimeout = Duration.seconds(10)
        var applicationName = "timesheets"
        var seen: Set<String> = []
        for pair in queryText.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.decode(parts[0], "a parameter name")
            let value = parts.count == 2 ? try Self.decode(parts[1], "the value of \(key)") : ""
            guard seen.insert(key).inserted else { throw ParseError("the parameter '\(key)' is given twice") }
            switch key {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw ParseError(
                        "sslmode '\(value)' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tls = mode
            case "sslrootcert":
                trustRootsFile = value
            case "pool_size", "max_connections":
                guard let size = Int(value), (1...1_000).contains(size) else {
                    throw ParseError("\(key) '\(value)' is not a whole number from 1 to 1000")
                }
                poolSize = size
            case "query_timeout", "statement_timeout":
                guard let duration = Self.duration(value), duration > .zero else {
                    throw ParseError("\(key) '\(value)' is not a duration such as 5s, 500ms or 5")
                }
                queryTimeout = duration
            case "connect_timeout":
                guard let duration = Self.duration(value), duration > .zero else {
                    throw ParseError("connect_timeout '\(value)' is not a positive number of seconds")
                }
                connectTimeout = duration
            case "application_name":
                applicationName = value
            case "host":
                host = value
            case "port":
                port = try Self.port(Substring(value))
            case "user":
                username = value
            case "password":
                password = value
            case "dbname":
                database = value
            default:
                throw ParseError(
                    "unknown parameter '\(key)'; known: sslmode, sslrootcert, pool_size, max_connections, "
                        + "query_timeout, connect_timeout, application_name, host, port, user, password, dbname")
            }
        }

        let resolvedPort = port ?? 5432
        let endpoint: Endpoint
        switch host {
        case .some(let host) where host.hasPrefix("/"):
            endpoint = .unixSocket(path: Self.socketPath(host, port: resolvedPort))
        case .some(let host):
            endpoint = .tcp(host: host, port: resolvedPort)
        case .none:
            endpoint = .unixSocket(path: Self.socketPath("/var/run/postgresql", port: resolvedPort))
        }
        if case .unixSocket = endpoint, tls == .require || tls == .verifyFull {
            throw ParseError("sslmode=\(tls.rawValue) cannot be used with a Unix socket")
        }
        let user = username.flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        self.init(
            endpoint: endpoint, username: user, password: password, database: database ?? user, tls: tls,
            trustRootsFile: trustRootsFile, poolSize: poolSize, queryTimeout: queryTimeout,
            connectTimeout: connectTimeout, applicationName: applicationName)
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
                host: host, port: port, username: username, password: password, database: database,
                tls: try clientTLS())
        case .unixSocket(let path):
            configuration = PostgresClient.Configuration(
                unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = startupParameters(statementTimeout: queryTimeout)
        return configuration
    }

    /// A single-connection configuration, as the migrator uses; no statement timeout unless given.
    public func makeConnectionConfiguration(statementTimeout: Duration? = nil) throws
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
                host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .unixSocket(let path):
            configuration = PostgresConnection.Configuration(
                unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.connectTimeout = .nanoseconds(
            Int64(connectTimeout.components.seconds) * 1_000_000_000 + connectTimeout.components.attoseconds / 1_000_000_000)
        configuration.options.additionalStartupParameters = startupParameters(statementTimeout: statementTimeout)
        return configuration
    }

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

    // MARK: Parsing helpers

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    private static func decode(_ text: Substring, _ what: String) throws(ParseError) -> String {
        guard let decoded = String(text).removingPercentEncoding else {
            throw ParseError("\(what) has an invalid percent-encoding")
        }
        return decoded
    }

    private static func port(_ text: Substring) throws(ParseError) -> Int {
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw ParseError("the port '\(text)' is not a number from 1 to 65535")
        }
        return port
    }

    private static func socketPath(_ directoryOrFile: String, port: Int) -> String {
        let last = directoryOrFile.split(separator: "/").last ?? ""
        if last.hasPrefix(".s.PGSQL.") { return directoryOrFile }
        let directory = directoryOrFile.hasSuffix("/") ? String(directoryOrFile.dropLast()) : directoryOrFile
        return "\(directory)/.s.PGSQL.\(port)"
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
