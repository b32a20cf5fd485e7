import Logging
import PostgresNIO
import ServiceLifecycle

/// The PostgreSQL store as a server runs it: the connection pool, the repository on it and a readiness ping, so the
/// server composes the store without touching the driver.
///
/// The store is the pool's ``Service``: run it in the application's service group ahead of anything that queries
/// through ``repository`` (queries wait until the pool runs, and the group shuts services down in reverse order).
///
/// ```swift
/// let store = try PostgresStore(configuration: try DatabaseConfiguration(url: url), logger: logger)
/// let group = ServiceGroup(services: [store, app], logger: logger)
/// ```
public struct PostgresStore: Service, CustomStringConvertible {
    /// The system of record for timesheet entries, on this store's pool.
    public let repository: PostgresTimesheetRepository
    /// The DPoP proofs already accepted, shared by every replica (see ``PostgresProofReplayTable``).
    public let proofReplay: PostgresProofReplayTable
    /// Refreshes the planner's statistics of a small table that grew fast (see ``PlannerStatistics``).
    public let plannerStatistics: PlannerStatistics
    /// For logs: the service group names its services by their description, so this must never hold a password.
    public let description: String

    /// Makes the pool (it connects lazily, once ``run()`` is running) and the repository on it.
    /// - Parameters:
    ///   - configuration: Where the database is, the pool size and the query timeout.
    ///   - standby: A streaming-replication standby of that database for reads (`DATABASE_READ_URL`), used while it
    ///     is at most `maxReadLag` behind (see ``StandbyReads``).
    ///   - logger: The pool's background logger and the repository's logger.
    public init(
        configuration: DatabaseConfiguration,
        standby: DatabaseConfiguration? = nil,
        maxReadLag: Duration = .seconds(5),
        logger: Logger
    ) throws {
        var repository = try PostgresTimesheetRepository(configuration: configuration, logger: logger)
        var description = "PostgresStore(\(configuration.redactedDescription)"
        if let standby {
            repository.standby = StandbyReads(
                standby: try PostgresPools(configuration: standby, logger: logger),
                primary: repository.pools,
                maxLag: maxReadLag,
                queryTimeout: min(standby.queryTimeout, .seconds(2)),
                logger: logger
            )
            description += ", reads: \(standby.redactedDescription)"
        }
        self.repository = repository
        self.proofReplay = PostgresProofReplayTable(
            pools: repository.pools,
            queryTimeout: configuration.queryTimeout,
            logger: logger
        )
        self.plannerStatistics = PlannerStatistics(
            pools: repository.pools,
            queryTimeout: configuration.queryTimeout,
            logger: logger
        )
        self.description = description + ")"
    }

    /// Where reads go when a standby is configured; `nil` without one.
    public var standby: StandbyReads? { repository.standby }

    /// Runs the connection pools, the planner statistics' check (on the primary) and the standby's monitor until the
    /// service group shuts down.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await repository.pools.run() }
            group.addTask { await plannerStatistics.run() }
            if let standby = repository.standby {
                group.addTask { await standby.run() }
            }
        }
    }

    /// Succeeds when the database answers; for readiness checks (bound it with the query timeout).
    public func ping() async throws {
        try await repository.ping()
    }
}
