import Foundation
import NIOCore
import NIOPosix
import PostgresNIO
import Testing
import TimesheetDomain

@testable import TimesheetStore

/// One pool per event loop: a caller on a loop borrows connections that live on that same loop.
@Suite struct PostgresPoolsTests {
    static let database = SuiteDatabase("pools")

    @Test func eachLoopBorrowsConnectionsOfItsOwnLoop() async throws {
        var configuration = try await Self.database.get()
        configuration.poolSize = 4
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let pools = try PostgresPools(configuration: configuration, group: group, logger: testLogger)
        #expect(pools.clients.count == 2)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await pools.run() }
            defer { tasks.cancelAll() }
            for loop in group.makeIterator() {
                // What a request running on this loop gets.
                let client = try await loop.submit { pools.current }.get()
                let connectionLoop = try await client.withConnection { connection in connection.eventLoop }
                #expect(connectionLoop === loop)
            }
            // Off the loops (a tool, a test) the first pool serves.
            #expect(pools.current === pools.clients[0])
        }
        try await group.shutdownGracefully()
    }

    /// Kept open (the default), the pools open every connection without being asked; on demand, none before a query.
    @Test func keptOpenPoolsOpenEveryConnectionAtStart() async throws {
        for keepsOpen in [true, false] {
            var configuration = try await TestPostgres.shared.freshDatabase("pools-open")
            configuration.poolSize = 4
            configuration.keepsConnectionsOpen = keepsOpen
            let pools = try PostgresPools(configuration: configuration, logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await pools.run() }
                defer { tasks.cancelAll() }
                let opened = try await withConnection(configuration) { connection in
                    var count = 0
                    for _ in 0..<50 {
                        count = try await connection.query(
                            """
                            SELECT count(*)::int8 FROM pg_stat_activity
                            WHERE datname = current_database() AND pid <> pg_backend_pid()
                            """,
                            logger: testLogger
                        ).decode(Int.self).reduce(into: 0) { $0 = $1 }
                        if count >= 4 { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return count
                }
                #expect(opened == (keepsOpen ? 4 : 0), "keep_connections_open=\(keepsOpen)")
            }
        }
    }

    @Test func sharesAddUpToThePoolSize() {
        for total in [2, 3, 7, 20, 21] {
            for count in 1...4 where count <= total {
                let shares = (0..<count).map { PostgresPools.share(of: total, among: count, at: $0) }
                #expect(shares.reduce(0, +) == total)
                #expect(shares.max()! - shares.min()! <= 1)
            }
        }
    }

    @Test func onePoolWhenAskedAndTheRepositoryWorksEitherWay() async throws {
        var configuration = try await Self.database.get()
        configuration.poolPerEventLoop = false
        let single = try PostgresPools(configuration: configuration, logger: testLogger)
        #expect(single.clients.count == 1)
        // Fewer connections than loops: one pool too.
        var tiny = try await Self.database.get()
        tiny.poolSize = 1
        #expect(
            try PostgresPools(configuration: tiny, group: MultiThreadedEventLoopGroup.singleton, logger: testLogger)
                .clients.count == 1
        )
        #expect(try DatabaseConfiguration(url: "postgres://u@h/db?pool_per_event_loop=false").poolPerEventLoop == false)
        #expect(try DatabaseConfiguration(url: "postgres://u@h/db").poolPerEventLoop)
        #expect(throws: DatabaseConfiguration.ParseError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db?pool_per_event_loop=maybe")
        }
        try await withRepository(configuration) { repository in
            let stored = try await repository.insert(
                [
                    NewTimesheet(
                        userID: "single-pool",
                        date: CalendarDay(daysSinceEpoch: 17_000),
                        project: "P",
                        hours: Hours(hundredths: 100)
                    )
                ],
                at: Date()
            )
            #expect(try await repository.entry(stored[0].id)?.userID == "single-pool")
        }
    }
}
