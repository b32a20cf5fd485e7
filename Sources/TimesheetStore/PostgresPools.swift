import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Connection pools, one per event loop, each keeping its connections on its own loop.
///
/// Why: the server runs Swift concurrency on NIO's event loops, and a task resumes on the loop of whatever woke it.
/// With one pool, a request accepted on one loop continues, after its database reply, on the loop of whichever
/// connection it was lent, and the loops' load drifts apart (one at 87%, the other at 19%, in `scripts/bench`). With
/// a pool per loop, a request borrows a connection of the loop it runs on: its query, the reply and the HTTP answer
/// stay on one thread.
public struct PostgresPools: Sendable {
    /// Every pool, in the order of the event loops.
    public let clients: [PostgresClient]
    private let byLoop: [ObjectIdentifier: PostgresClient]

    /// One pool on `group` as a whole (PostgresNIO spreads its connections over the loops).
    public init(single client: PostgresClient) {
        self.init(clients: [client], byLoop: [:])
    }

    private init(clients: [PostgresClient], byLoop: [ObjectIdentifier: PostgresClient]) {
        self.clients = clients
        self.byLoop = byLoop
    }

    /// A pool per loop of `group`, sharing exactly `configuration.poolSize` connections out (the first loops get
    /// the remainder). With fewer connections than loops, or `poolPerEventLoop` off, one pool on the whole group.
    public init(
        configuration: DatabaseConfiguration,
        group: MultiThreadedEventLoopGroup = .singleton,
        logger: Logger
    ) throws {
        var clientConfiguration = try configuration.makeClientConfiguration()
        let loops = Array(group.makeIterator())
        guard configuration.poolPerEventLoop, configuration.poolSize >= loops.count else {
            self.init(
                single: PostgresClient(
                    configuration: clientConfiguration,
                    eventLoopGroup: group,
                    backgroundLogger: logger
                )
            )
            return
        }
        let minimum = clientConfiguration.options.minimumConnections
        var clients: [PostgresClient] = []
        var byLoop: [ObjectIdentifier: PostgresClient] = [:]
        for (index, loop) in loops.enumerated() {
            let share = Self.share(of: configuration.poolSize, among: loops.count, at: index)
            clientConfiguration.options.maximumConnections = share
            clientConfiguration.options.minimumConnections = min(minimum, share)
            // A client given one loop opens every connection on it.
            let client = PostgresClient(
                configuration: clientConfiguration,
                eventLoopGroup: loop,
                backgroundLogger: logger
            )
            clients.append(client)
            byLoop[ObjectIdentifier(loop)] = client
        }
        self.init(clients: clients, byLoop: byLoop)
    }

    /// The connections of pool `index` when `total` are shared among `count` pools: equal shares, the remainder to
    /// the first pools, so the shares add up to `total`.
    static func share(of total: Int, among count: Int, at index: Int) -> Int {
        total / count + (index < total % count ? 1 : 0)
    }

    /// The pool of the event loop the caller runs on; off the loops (tests, tools), the first pool.
    public var current: PostgresClient {
        if byLoop.isEmpty { return clients[0] }
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let client = byLoop[ObjectIdentifier(loop)] {
            return client
        }
        return clients[0]
    }

    /// Runs every pool until cancelled (a `Service`'s `run()`).
    public func run() async {
        await withDiscardingTaskGroup { group in
            for client in clients {
                group.addTask { await client.run() }
            }
        }
    }
}
