import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The table of DPoP proofs already accepted (migration `0005_dpop_proof_replay.sql`), shared by every replica.
///
/// Recording is one `INSERT ... ON CONFLICT DO NOTHING RETURNING`: PostgreSQL's unique index decides which of two
/// replicas inserting the same key at once gets the row, so exactly one accepts the proof. Expired rows are deleted
/// as the table is used: at most once per ``purgeInterval`` per process, at most ``purgeBatch`` rows at a time, so
/// the table stays as small as the traffic of one proof window and no purge ever holds a long lock.
public struct PostgresProofReplayTable: Sendable {
    let pools: PostgresPools
    let queryTimeout: Duration
    let logger: Logger
    private let lastPurge = LastPurge()

    /// How often one process deletes expired rows.
    static let purgeInterval: TimeInterval = 30
    /// The most rows one purge deletes.
    static let purgeBatch = 10_000

    public init(pools: PostgresPools, queryTimeout: Duration = .seconds(5), logger: Logger) {
        self.pools = pools
        self.queryTimeout = queryTimeout
        self.logger = logger
    }

    /// Records `key` until `expiresAt` unless a live row holds it; `true` when this call recorded it.
    public func recordFirstUse(of key: String, expiresAt: Date, now: Date) async throws -> Bool {
        let client = pools.current
        let logger = logger
        let shouldPurge = lastPurge.claim(now: now, interval: Self.purgeInterval)
        return try await perform {
            if shouldPurge { try await Self.purge(client: client, before: now, logger: logger) }
            // An expired row with the same key (not purged yet) is taken over: its proof is refused for its age anyway.
            let rows = try await client.query(
                """
                INSERT INTO dpop_proof_replay (proof_key, expires_at) VALUES (\(key), \(expiresAt))
                ON CONFLICT (proof_key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                WHERE dpop_proof_replay.expires_at <= \(now)
                RETURNING 1
                """,
                logger: logger
            )
            var inserted = false
            for try await _ in rows { inserted = true }
            return inserted
        }
    }

    /// Deletes up to ``purgeBatch`` expired rows; returns how many.
    @discardableResult
    public func purgeExpired(now: Date) async throws -> Int {
        let client = pools.current
        let logger = logger
        return try await perform { try await Self.purge(client: client, before: now, logger: logger) }
    }

    /// Rows held now (tests and tools).
    public func count() async throws -> Int {
        let client = pools.current
        let logger = logger
        return try await perform {
            var count = 0
            for try await value in try await client.query(
                "SELECT count(*)::int8 FROM dpop_proof_replay",
                logger: logger
            )
            .decode(Int64.self) {
                count = Int(value)
            }
            return count
        }
    }

    @discardableResult
    private static func purge(client: PostgresClient, before now: Date, logger: Logger) async throws -> Int {
        let rows = try await client.query(
            """
            DELETE FROM dpop_proof_replay WHERE proof_key IN (
                SELECT proof_key FROM dpop_proof_replay WHERE expires_at <= \(now) LIMIT \(purgeBatch)
            ) RETURNING 1
            """,
            logger: logger
        )
        var deleted = 0
        for try await _ in rows { deleted += 1 }
        return deleted
    }

    private func perform<Result: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        do {
            return try await withDeadline(queryTimeout, operation)
        } catch {
            throw StoreError.logged(error, to: logger)
        }
    }
}

/// When this process last purged, so that only one request per interval pays for a purge.
private final class LastPurge: Sendable {
    private let last = Mutex<Date?>(nil)

    func claim(now: Date, interval: TimeInterval) -> Bool {
        last.withLock { last in
            if let previous = last, now.timeIntervalSince(previous) < interval { return false }
            last = now
            return true
        }
    }
}
