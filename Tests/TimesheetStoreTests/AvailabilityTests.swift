import Foundation
import PostgresNIO
import Testing
import TimesheetDomain

@testable import LocalPostgres
@testable import TimesheetStore

#if canImport(Glibc)
import Glibc
#endif

/// Tests that stop or kill a server run on private clusters, never the shared one.
@Suite struct AvailabilityTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
    /// The entry each test stores.
    static let oneHour = NewTimesheet(
        userID: "u",
        date: CalendarDay(daysSinceEpoch: 17_000),
        project: "P",
        hours: Hours(hundredths: 100)
    )

    @Test func aStoppedDatabaseIsUnavailableQuickly() async throws {
        try await withPrivateCluster { cluster in
            let url = try await cluster.start()
            var configuration = try DatabaseConfiguration(url: url)
            configuration.queryTimeout = .seconds(1)
            try await Migrator(configuration: configuration, directory: repositoryMigrations, output: { _ in }).up()
            try await withRepository(configuration) { repository in
                let stored = try await repository.insert([Self.oneHour], at: Self.now)
                #expect(try await repository.entry(stored[0].id) != nil)
                try await cluster.stop()
                for _ in 0..<3 {
                    let started = ContinuousClock.now
                    do {
                        _ = try await repository.entry(stored[0].id)
                        Issue.record("expected the stopped database to be unavailable")
                    } catch let error as StoreError {
                        #expect(error.isUnavailable, "\(String(reflecting: error))")
                        #expect(!error.description.contains("SELECT"), "no SQL in the message")
                    }
                    #expect(ContinuousClock.now - started < .seconds(3))
                }
            }
        }
    }

    @Test func aDatabaseThatNeverAnsweredIsUnavailableWithinTheTimeout() async throws {
        var configuration = try DatabaseConfiguration(
            url: LocalPostgresCluster.url(port: try freeTestPort(), database: "x")
        )
        configuration.queryTimeout = .milliseconds(700)
        try await withRepository(configuration) { repository in
            let started = ContinuousClock.now
            await #expect {
                _ = try await repository.entries(TimesheetQuery(userID: "u", order: .newestDayFirst, limit: 10))
            } throws: { error in
                (error as? StoreError)?.isUnavailable == true
            }
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }

    @Test func aBlockedStatementTimesOut() async throws {
        let prepared = try await TestPostgres.shared.freshDatabase("timeout")
        let stored = try await withRepository(prepared) { repository in
            try await repository.insert([Self.oneHour], at: Self.now)
        }
        var configuration = prepared
        configuration.queryTimeout = .seconds(1)
        try await withRepository(configuration) { repository in
            try await withConnection(configuration) { connection in
                try await connection.query("BEGIN", logger: testLogger)
                try await connection.query(
                    "SELECT 1 FROM timesheets WHERE id = \(stored[0].id.rawValue) FOR UPDATE",
                    logger: testLogger
                )
                let started = ContinuousClock.now
                await #expect {
                    _ = try await repository.update(stored[0].id, by: "tester") {
                        try $0.approved(by: "m", at: Self.now)
                    }
                } throws: { error in
                    guard case .unavailable(.timedOut, _) = error as? StoreError else { return false }
                    return true
                }
                #expect(ContinuousClock.now - started < .seconds(3))
                try await connection.query("ROLLBACK", logger: testLogger)
            }
            // The pool recovers: a later call works (retried, as a loaded machine may be slower than 1 s).
            var approved: Timesheet?
            for _ in 0..<10 where approved == nil {
                approved = try? await repository.update(stored[0].id, by: "tester") {
                    try $0.approved(by: "m", at: Self.now)
                }
                if approved == nil { try await Task.sleep(for: .milliseconds(300)) }
            }
            #expect(approved?.status == .approved)
        }
    }
}

@Suite struct LocalPostgresClusterTests {
    @Test func aKilledClusterStartsAgain() async throws {
        try await withPrivateCluster { cluster in
            try await cluster.start()
            let pidText = try String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8)
            let pid = Int32(pidText.split(separator: "\n")[0])!
            #expect(kill(pid, SIGKILL) == 0)
            try await Task.sleep(for: .milliseconds(300))
            // Forget the old run as a new process would.
            let again = LocalPostgresCluster(dataDirectory: cluster.dataDirectory)
            let url = try await again.start()
            try await again.createDatabase("after_kill")
            let configuration = try DatabaseConfiguration(url: url)
            #expect(try await withConnection(configuration) { _ in true })
            try await again.stop()
        }
    }

    @Test func missingBinariesSayWhatToInstall() {
        #expect {
            _ = try LocalPostgresCluster.findBinaries(path: "/nonexistent", libraryRoot: "/nonexistent")
        } throws: { error in
            "\(error)".contains("apt-get install -y postgresql")
        }
    }

    @Test func databaseNamesAreChecked() async throws {
        let cluster = LocalPostgresCluster(dataDirectory: "/tmp/unused")
        await #expect(throws: LocalPostgresCluster.Failure.self) { try await cluster.createDatabase("x\"; DROP") }
    }
}

@Suite struct SQLScriptTests {
    @Test func splitsAtTopLevelSemicolonsOnly() {
        let sql = """
            -- leading; comment
            CREATE TABLE a (t text DEFAULT 'x;y', "odd;name" int);
            /* block; /* nested; */ still */ INSERT INTO a VALUES (E'it\\'s;');
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            CREATE FUNCTION g() RETURNS int LANGUAGE sql
            BEGIN ATOMIC
              SELECT CASE WHEN true THEN 1 ELSE 2 END;
            END;
            SELECT $1;
            -- trailing comment only
            """
        let statements = SQLScript.statements(in: sql)
        #expect(statements.count == 5, "\(statements.map(\.text))")
        #expect(statements.map(\.line) == [1, 3, 4, 5, 9])
        #expect(statements[3].text.hasSuffix("END"))
        #expect(statements[4].leadingKeyword == "SELECT")
        #expect(statements[0].leadingKeyword == "CREATE")
        #expect(statements[1].location(ofPosition: 1) == (3, 1))
    }
}
