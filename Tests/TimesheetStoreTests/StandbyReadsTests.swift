import Foundation
import Logging
import PostgresNIO
import Testing

@testable import TimesheetStore

/// Where reads go: the standby while its safe time is recent and the caller's own writes are in it, else the
/// primary. No database: the monitor's observations are fed in by hand (pools are made, never run).
@Suite struct StandbyReadsTests {
    static func router(maxLag: Duration = .seconds(5)) throws -> StandbyReads {
        let configuration = DatabaseConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: 1),
            username: "nobody",
            database: "none",
            tls: .disable,
            poolSize: 2
        )
        return StandbyReads(
            standby: try PostgresPools(configuration: configuration, logger: testLogger),
            primary: try PostgresPools(configuration: configuration, logger: testLogger),
            maxLag: maxLag,
            logger: testLogger
        )
    }

    @Test func readsGoToThePrimaryUntilTheStandbyIsSeen() throws {
        let reads = try Self.router()
        #expect(reads.client(forReadBy: "alice") == nil)
        #expect(reads.status.isUsable == false)
        #expect(reads.status.problem == "no answer from the standby yet")
        reads.notePrimary(position: 100, at: .now)
        reads.advance(replayedTo: 100)
        #expect(reads.client(forReadBy: "alice") != nil)
        #expect(reads.status.isUsable)
        #expect(reads.status.standbyReads == 1 && reads.status.primaryReads == 1)
    }

    @Test func aCallerReadsThePrimaryUntilTheStandbyHoldsItsWrite() throws {
        let reads = try Self.router()
        reads.notePrimary(position: 100, at: .now)
        reads.advance(replayedTo: 100)
        reads.recordWrite(by: "alice")
        #expect(reads.client(forReadBy: "alice") == nil, "alice just wrote")
        #expect(reads.client(forReadBy: "bob") != nil, "bob did not")
        #expect(reads.client(forReadBy: nil) != nil)
        // The primary moves on; the standby has not replayed that far yet.
        reads.notePrimary(position: 200, at: .now)
        reads.advance(replayedTo: 150)
        #expect(reads.client(forReadBy: "alice") == nil)
        // Now it has: everything committed before the second sample is on the standby, alice's write included.
        reads.advance(replayedTo: 200)
        #expect(reads.client(forReadBy: "alice") != nil)
    }

    @Test func aStandbyTooFarBehindIsSkippedAndSaysWhy() async throws {
        let reads = try Self.router(maxLag: .milliseconds(50))
        reads.notePrimary(position: 100, at: .now)
        reads.advance(replayedTo: 100)
        #expect(reads.client(forReadBy: nil) != nil)
        try await Task.sleep(for: .milliseconds(120))
        #expect(reads.client(forReadBy: nil) == nil)
        let status = reads.status
        #expect(status.isUsable == false)
        #expect(status.problem?.contains("DATABASE_READ_MAX_LAG") == true, "\(status.problem ?? "")")
        #expect(status.lag.map { $0 >= .milliseconds(100) } == true)
    }

    @Test func onlyTheStandbysOwnFailuresSendAReadToThePrimary() {
        #expect(StandbyReads.isStandbysFault(.unavailable(.unreachable, underlying: nil)))
        #expect(StandbyReads.isStandbysFault(.unavailable(.notReady, underlying: nil)))
        #expect(!StandbyReads.isStandbysFault(.unavailable(.timedOut, underlying: nil)))
        #expect(!StandbyReads.isStandbysFault(.unexpected(underlying: CancellationError())))
    }

    @Test func aFailedStandbyReadSkipsTheStandbyUntilItAnswersAgain() throws {
        let reads = try Self.router()
        reads.notePrimary(position: 100, at: .now)
        reads.advance(replayedTo: 100)
        reads.standbyFailed(StoreError.unavailable(.unreachable, underlying: nil))
        #expect(reads.client(forReadBy: nil) == nil)
        #expect(reads.status.problem?.hasPrefix("the standby failed a read") == true)
        reads.advance(replayedTo: 100)
        #expect(reads.client(forReadBy: nil) != nil)
    }

    @Test func walPositionsParse() {
        #expect(StandbyReads.parseLSN("0/0") == 0)
        #expect(StandbyReads.parseLSN("16/B374D848") == 0x16_B374_D848)
        #expect(StandbyReads.parseLSN("FFFFFFFF/FFFFFFFF") == UInt64.max)
        for bad in ["", "16", "16/", "/1", "x/1", "1/2/3", "100000000/0"] {
            #expect(StandbyReads.parseLSN(bad) == nil, "\(bad)")
        }
        #expect(StandbyReads.seconds(.milliseconds(7_349)) == "7.3 s")
        // An idle primary at a page boundary reports its insert position past the next page's header.
        #expect(StandbyReads.isReplayed(0x1_0000_2018, upTo: 0x1_0000_2000))
        #expect(StandbyReads.isReplayed(0x1_0000_2000, upTo: 0x1_0000_2000))
        #expect(!StandbyReads.isReplayed(0x1_0000_2030, upTo: 0x1_0000_2000))
        #expect(!StandbyReads.isReplayed(0x1_0000_2019, upTo: 0x1_0000_2001))
    }
}
