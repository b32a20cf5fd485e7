import Foundation
import Testing
import TimesheetStore

/// The DPoP replay table (migration 0005): one acceptance per key across concurrent callers on separate pools (two
/// replicas), expired keys taken over and purged.
@Suite struct ProofReplayTableTests {
    @Test func exactlyOneOfManyConcurrentReplicasAcceptsAProof() async throws {
        let configuration = try await TestPostgres.shared.freshDatabase("replay")
        try await withRepository(configuration) { first in
            try await withRepository(configuration) { second in
                let replicas = [first, second].map {
                    PostgresProofReplayTable(pools: $0.pools, queryTimeout: .seconds(30), logger: testLogger)
                }
                let now = Date()
                let expiry = now.addingTimeInterval(70)
                let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for index in 0..<40 {
                        group.addTask {
                            try await replicas[index % 2].recordFirstUse(of: "same-proof", expiresAt: expiry, now: now)
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                #expect(accepted == 1)
                #expect(try await replicas[1].recordFirstUse(of: "another-proof", expiresAt: expiry, now: now))
                #expect(try await replicas[0].count() == 2)
            }
        }
    }

    @Test func expiredKeysAreTakenOverAndPurged() async throws {
        let configuration = try await TestPostgres.shared.freshDatabase("replay_purge")
        try await withRepository(configuration) { (repository) async throws -> Void in
            let table = PostgresProofReplayTable(
                pools: repository.pools,
                queryTimeout: .seconds(30),
                logger: testLogger
            )
            let start = Date(timeIntervalSince1970: 1_750_000_000)
            for index in 0..<5 {
                #expect(
                    try await table.recordFirstUse(
                        of: "old-\(index)",
                        expiresAt: start.addingTimeInterval(60),
                        now: start
                    )
                )
            }
            #expect(try await !table.recordFirstUse(of: "old-0", expiresAt: start.addingTimeInterval(60), now: start))
            // Past its expiry a key may be recorded again (its proof is refused for its age before it gets here).
            let later = start.addingTimeInterval(61)
            #expect(try await table.recordFirstUse(of: "old-0", expiresAt: later.addingTimeInterval(60), now: later))
            // That insert came more than the purge interval after the first, so it purged the four expired rows.
            #expect(try await table.count() == 1)
            #expect(try await table.recordFirstUse(of: "new", expiresAt: later.addingTimeInterval(90), now: later))
            #expect(try await table.purgeExpired(now: later.addingTimeInterval(61)) == 1)
            #expect(try await table.count() == 1)
        }
    }
}
