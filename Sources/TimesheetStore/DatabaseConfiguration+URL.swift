import Foundation
import PercentEncoding

// Reading a `DATABASE_URL`, in the order a reader would: cut the URL into its parts, read the credentials, the host
// and the database, let the query parameters add to or override them, then decide the endpoint. Every refusal
// names what is wrong, and none repeats the password.
extension DatabaseConfiguration {
    /// Parses a `postgres://` URL.
    /// - Parameter url: The URL, e.g. the `DATABASE_URL` environment variable.
    public init(url: String) throws(ParseError) {
        let parts = try URLParts(url)
        var fields = URLFields()
        try fields.readUserInfo(parts.userInfo)
        try fields.readHostAndPort(parts.hostPort)
        try fields.readDatabase(parts.path)
        try fields.readParameters(parts.query)
        self = try fields.configuration()
    }
}

/// A `postgres://` URL cut at its delimiters, still percent-encoded.
private struct URLParts {
    var userInfo: Substring?
    var hostPort: Substring
    var path: Substring = ""
    var query: Substring = ""

    init(_ url: String) throws(DatabaseConfiguration.ParseError) {
        let text = url.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .init("it is empty; expected postgres://user:password@host:port/database") }
        var rest: Substring
        if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else {
            throw .init("it must start with postgres:// or postgresql://")
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        hostPort = rest
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
        }
    }
}

/// What the URL has said so far. Query parameters come last and may override the user, password, host, port and
/// database that the rest of the URL gave.
private struct URLFields {
    typealias ParseError = DatabaseConfiguration.ParseError
    typealias TLSMode = DatabaseConfiguration.TLSMode

    var username: String?
    var password: String?
    var host: String?
    var port: Int?
    var database: String?
    var tls = TLSMode.prefer
    var trustRootsFile: String?
    var poolSize = DatabaseConfiguration.defaultPoolSize
    var poolPerEventLoop = true
    var keepsConnectionsOpen = true
    var batchesReads = true
    var batchesCreates = true
    var queryTimeout = Duration.seconds(5)
    var connectTimeout = Duration.seconds(10)
    var applicationName = "timesheets"

    /// `user` or `user:password`.
    mutating func readUserInfo(_ userInfo: Substring?) throws(ParseError) {
        guard let userInfo else { return }
        if let colon = userInfo.firstIndex(of: ":") {
            username = try Self.decode(userInfo[..<colon], "the user name")
            password = try Self.decode(userInfo[userInfo.index(after: colon)...], "the password")
        } else {
            username = try Self.decode(userInfo, "the user name")
        }
    }

    /// `host`, `host:port`, `[IPv6]` or `[IPv6]:port`; empty means the default Unix socket.
    mutating func readHostAndPort(_ hostPort: Substring) throws(ParseError) {
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
    }

    /// The path: one database name.
    mutating func readDatabase(_ path: Substring) throws(ParseError) {
        database = path.isEmpty ? nil : try Self.decode(path, "the database name")
        if database?.contains("/") == true {
            throw ParseError("the database name must not contain '/'")
        }
    }

    /// `key=value` pairs joined by `&`; each key at most once.
    mutating func readParameters(_ query: Substring) throws(ParseError) {
        var seen: Set<String> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.decode(parts[0], "a parameter name")
            let value = parts.count == 2 ? try Self.decode(parts[1], "the value of \(key)") : ""
            guard seen.insert(key).inserted else { throw ParseError("the parameter '\(key)' is given twice") }
            try apply(key, value)
        }
    }

    /// One query parameter. Anything unknown is an error, so a typo never goes unnoticed.
    mutating func apply(_ key: String, _ value: String) throws(ParseError) {
        switch key {
        case "sslmode":
            guard let mode = TLSMode(rawValue: value) else {
                throw ParseError(
                    "sslmode '\(value)' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            tls = mode
        case "sslrootcert":
            trustRootsFile = value
        case "pool_size", "max_connections":
            guard let size = Int(value), (1...1_000).contains(size) else {
                throw ParseError("\(key) '\(value)' is not a whole number from 1 to 1000")
            }
            poolSize = size
        case "pool_per_event_loop":
            guard let flag = Bool(value) else {
                throw ParseError("pool_per_event_loop '\(value)' is not true or false")
            }
            poolPerEventLoop = flag
        case "keep_connections_open":
            guard let flag = Bool(value) else {
                throw ParseError("keep_connections_open '\(value)' is not true or false")
            }
            keepsConnectionsOpen = flag
        case "batch_reads":
            guard let flag = Bool(value) else {
                throw ParseError("batch_reads '\(value)' is not true or false")
            }
            batchesReads = flag
        case "batch_creates":
            guard let flag = Bool(value) else {
                throw ParseError("batch_creates '\(value)' is not true or false")
            }
            batchesCreates = flag
        case "query_timeout", "statement_timeout":
            guard let duration = DatabaseConfiguration.duration(value), duration > .zero else {
                throw ParseError("\(key) '\(value)' is not a duration such as 5s, 500ms or 5")
            }
            queryTimeout = duration
        case "connect_timeout":
            guard let duration = DatabaseConfiguration.duration(value), duration > .zero else {
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
                    + "pool_per_event_loop, keep_connections_open, batch_reads, batch_creates, query_timeout, "
                    + "connect_timeout, application_name, host, port, user, password, dbname"
            )
        }
    }

    /// A host starting with `/` is a socket directory (or the socket itself); no host means the default socket.
    func endpoint() throws(ParseError) -> DatabaseConfiguration.Endpoint {
        let resolvedPort = port ?? 5432
        let endpoint: DatabaseConfiguration.Endpoint
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
        return endpoint
    }

    /// The configuration, with libpq's defaults: user `postgres`, and a database named after the user.
    func configuration() throws(ParseError) -> DatabaseConfiguration {
        let endpoint = try endpoint()
        let user = username.flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        return DatabaseConfiguration(
            endpoint: endpoint,
            username: user,
            password: password,
            database: database ?? user,
            tls: tls,
            trustRootsFile: trustRootsFile,
            poolSize: poolSize,
            poolPerEventLoop: poolPerEventLoop,
            keepsConnectionsOpen: keepsConnectionsOpen,
            batchesReads: batchesReads,
            batchesCreates: batchesCreates,
            queryTimeout: queryTimeout,
            connectTimeout: connectTimeout,
            applicationName: applicationName
        )
    }

    // MARK: Pieces

    static func decode(_ text: Substring, _ what: String) throws(ParseError) -> String {
        guard let decoded = PercentDecoding.decode(text) else {
            throw ParseError("\(what) has an invalid percent-encoding")
        }
        return decoded
    }

    static func port(_ text: Substring) throws(ParseError) -> Int {
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw ParseError("the port '\(text)' is not a number from 1 to 65535")
        }
        return port
    }

    static func socketPath(_ directoryOrFile: String, port: Int) -> String {
        let last = directoryOrFile.split(separator: "/").last ?? ""
        if last.hasPrefix(".s.PGSQL.") { return directoryOrFile }
        let directory = directoryOrFile.hasSuffix("/") ? String(directoryOrFile.dropLast()) : directoryOrFile
        return "\(directory)/.s.PGSQL.\(port)"
    }
}
