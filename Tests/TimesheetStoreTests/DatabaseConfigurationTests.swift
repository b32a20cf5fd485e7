import PostgresNIO
import Testing

@testable import TimesheetStore

@Suite struct DatabaseConfigurationTests {
    @Test func aFullURL() throws {
        let configuration = try DatabaseConfiguration(
            url: "postgres://app:s%40cret%2Fx@db.internal:6543/timesheets"
                + "?sslmode=verify-full&pool_size=7&query_timeout=250ms"
        )
        #expect(configuration.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(configuration.username == "app")
        #expect(configuration.password == "s@cret/x")
        #expect(configuration.database == "timesheets")
        #expect(configuration.tls == .verifyFull)
        #expect(configuration.poolSize == 7)
        #expect(configuration.queryTimeout == .milliseconds(250))
        #expect(!configuration.redactedDescription.contains("s@cret"))
        let client = try configuration.makeClientConfiguration()
        #expect(client.options.maximumConnections == 7)
        #expect(client.options.additionalStartupParameters.contains { $0 == ("statement_timeout", "250ms") })
    }

    /// By default the pool keeps every connection open with no per-release timers, and over TCP asks PostgreSQL for
    /// keep-alive probes; `keep_connections_open=false` gives PostgresNIO's on-demand pool with its pings.
    @Test func keptOpenConnections() throws {
        let kept = try DatabaseConfiguration(url: "postgres://u@h/db?pool_size=6").makeClientConfiguration()
        #expect(kept.options.minimumConnections == 6 && kept.options.maximumConnections == 6)
        #expect(kept.options.keepAliveBehavior == nil)
        let probes = kept.options.additionalStartupParameters.filter { $0.0.hasPrefix("tcp_keepalives_") }
        #expect(probes.map(\.0) == ["tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count"])

        let socket = try DatabaseConfiguration(url: "postgres://u@/db?host=/tmp/pg").makeClientConfiguration()
        #expect(socket.options.minimumConnections == socket.options.maximumConnections)
        #expect(!socket.options.additionalStartupParameters.contains { $0.0.hasPrefix("tcp_keepalives_") })

        let onDemand = try DatabaseConfiguration(url: "postgres://u@h/db?keep_connections_open=false")
        #expect(!onDemand.keepsConnectionsOpen)
        let client = try onDemand.makeClientConfiguration()
        #expect(client.options.minimumConnections == 0)
        #expect(client.options.keepAliveBehavior != nil)
        #expect(!client.options.additionalStartupParameters.contains { $0.0.hasPrefix("tcp_keepalives_") })
        #expect(throws: DatabaseConfiguration.ParseError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db?keep_connections_open=sometimes")
        }
    }

    /// Reads are batched unless `batch_reads=false`; a repository made without batching has no batchers.
    @Test func batchedReadsAreASetting() throws {
        #expect(try DatabaseConfiguration(url: "postgres://u@h/db").batchesReads)
        let unbatched = try DatabaseConfiguration(url: "postgres://u@h/db?batch_reads=false")
        #expect(!unbatched.batchesReads)
        #expect(throws: DatabaseConfiguration.ParseError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db?batch_reads=16")
        }
        let unbatchedReads = try PostgresTimesheetRepository(configuration: unbatched, logger: testLogger)
        #expect(!unbatchedReads.batchers.batchesReads)
        for client in unbatchedReads.pools.clients {
            #expect(unbatchedReads.batchers.firstPages(on: client) == nil)
            #expect(unbatchedReads.batchers.newEntries(on: client) != nil, "batch_reads=false leaves creates batched")
        }
        let batched = try PostgresTimesheetRepository(
            configuration: DatabaseConfiguration(url: "postgres://u@h/db?pool_size=4"),
            logger: testLogger
        )
        for client in batched.pools.clients {
            #expect(batched.batchers.firstPages(on: client) != nil && batched.batchers.pendingPages(on: client) != nil)
        }
        // A standby's pools batch their reads too.
        var withStandby = batched
        let standbyConfiguration = try DatabaseConfiguration(url: "postgres://u@r/db")
        withStandby.standby = StandbyReads(
            standby: try PostgresPools(configuration: standbyConfiguration, logger: testLogger),
            primary: batched.pools,
            maxLag: .seconds(5),
            queryTimeout: .seconds(2),
            logger: testLogger
        )
        for client in withStandby.standby?.standby.clients ?? [] {
            #expect(withStandby.batchers.firstPages(on: client) != nil)
            #expect(withStandby.batchers.pendingPages(on: client) != nil)
            #expect(withStandby.batchers.newEntries(on: client) == nil, "a standby takes no writes")
        }
    }

    /// Single creates are batched unless `batch_creates=false`, independently of reads.
    @Test func batchedCreatesAreASetting() throws {
        #expect(try DatabaseConfiguration(url: "postgres://u@h/db").batchesCreates)
        let unbatched = try DatabaseConfiguration(url: "postgres://u@h/db?batch_creates=false&pool_size=4")
        #expect(!unbatched.batchesCreates && unbatched.batchesReads)
        #expect(throws: DatabaseConfiguration.ParseError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db?batch_creates=yes")
        }
        let repository = try PostgresTimesheetRepository(configuration: unbatched, logger: testLogger)
        for client in repository.pools.clients {
            #expect(repository.batchers.newEntries(on: client) == nil)
            #expect(repository.batchers.firstPages(on: client) != nil)
        }
        let neither = try PostgresTimesheetRepository(
            configuration: DatabaseConfiguration(url: "postgres://u@h/db?batch_creates=false&batch_reads=false"),
            logger: testLogger
        )
        #expect(!neither.batchers.batchesReads)
        for client in neither.pools.clients { #expect(neither.batchers.newEntries(on: client) == nil) }
    }

    @Test func defaultsAndTheOtherScheme() throws {
        let configuration = try DatabaseConfiguration(url: "postgresql://localhost/app")
        #expect(configuration.endpoint == .tcp(host: "localhost", port: 5432))
        #expect(configuration.username == "postgres")
        #expect(configuration.password == nil)
        #expect(configuration.tls == .prefer)
        #expect(configuration.poolSize == DatabaseConfiguration.defaultPoolSize)
        #expect(DatabaseConfiguration.defaultPoolSize >= 4 && DatabaseConfiguration.defaultPoolSize % 4 == 0)
        #expect(configuration.queryTimeout == .seconds(5))
        #expect(try DatabaseConfiguration(url: "postgres://u@h").database == "u")
        #expect(try DatabaseConfiguration(url: "postgres://u@h/d?max_connections=3").poolSize == 3)
        #expect(try DatabaseConfiguration(url: "postgres://u@[::1]:5433/d").endpoint == .tcp(host: "::1", port: 5433))
    }

    @Test func unixSockets() throws {
        #expect(
            try DatabaseConfiguration(url: "postgres://u@%2Fvar%2Frun%2Fpostgresql/d").endpoint
                == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432")
        )
        #expect(
            try DatabaseConfiguration(url: "postgres://u@/d?host=/tmp/pg&port=6000").endpoint
                == .unixSocket(path: "/tmp/pg/.s.PGSQL.6000")
        )
        #expect(
            try DatabaseConfiguration(url: "postgres://u@/d?host=/tmp/pg/.s.PGSQL.7000").endpoint
                == .unixSocket(path: "/tmp/pg/.s.PGSQL.7000")
        )
        #expect(
            try DatabaseConfiguration(url: "postgres:///d").endpoint
                == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432")
        )
    }

    @Test(arguments: [
        ("mysql://u@h/d", "postgres://"),
        ("", "empty"),
        ("postgres://u@h:99999/d", "port"),
        ("postgres://u@h:abc/d", "port"),
        ("postgres://u@h/d?sslmode=sometimes", "sslmode"),
        ("postgres://u@h/d?pool_size=0", "pool_size"),
        ("postgres://u@h/d?pool_size=many", "pool_size"),
        ("postgres://u@h/d?query_timeout=soon", "query_timeout"),
        ("postgres://u@h/d?colour=blue", "unknown parameter 'colour'"),
        ("postgres://u@h1,h2/d", "several hosts"),
        ("postgres://u:p%zz@h/d", "password"),
        ("postgres://u:p%A9@h/d", "password"),  // not UTF-8 (Foundation made it U+FFFD)
        ("postgres://u@[::1/d", "IPv6"),
        ("postgres://u@/d?host=/tmp&sslmode=require", "Unix socket"),
        ("postgres://u@h/d?sslmode=disable&sslmode=require", "twice"),
    ])
    func errorsSayWhatIsWrong(_ url: String, _ mention: String) {
        #expect {
            _ = try DatabaseConfiguration(url: url)
        } throws: { error in
            let description = "\(error)"
            return description.contains(mention) && description.hasPrefix("Invalid DATABASE_URL")
        }
    }

    @Test func plusIsAPlusSign() throws {
        // Percent-decoding is PercentDecoding's, with `+` literal as RFC 3986 has it (only forms make it a space).
        #expect(try DatabaseConfiguration(url: "postgres://app:a+b%2B@h/d").password == "a+b+")
    }

    @Test func theErrorNeverShowsThePassword() {
        #expect {
            _ = try DatabaseConfiguration(url: "postgres://u:hunter2@h:port/d")
        } throws: { error in
            !"\(error)".contains("hunter2")
        }
    }
}
