import Foundation
import LocalPostgres
import PostgresNIO
import Synchronization
import Testing
import TimesheetStore

#if canImport(Glibc)
import Glibc
#endif

/// Collects a migrator's output lines.
final class OutputLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A fresh database and a migrations folder of its own.
struct MigrationFixture {
    var configuration: DatabaseConfiguration
    var directory: String
    let output = OutputLines()

    static func make(_ label: String) async throws -> MigrationFixture {
        let configuration = try await TestPostgres.shared.freshDatabase(label, migrated: false)
        let directory = try makeTemporaryDirectory(prefix: "tsmig")
        return MigrationFixture(configuration: configuration, directory: directory)
    }

    func write(_ name: String, _ sql: String) throws {
        try sql.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    func remove(_ name: String) throws {
        try FileManager.default.removeItem(atPath: directory + "/" + name)
    }

    func migrator(_ configure: (inout Migrator.Options) -> Void = { _ in }) -> Migrator {
        var options = Migrator.Options()
        options.lockTimeout = .seconds(20)
        configure(&options)
        let output = self.output
        return Migrator(
            configuration: configuration,
            directory: directory,
            options: options,
            output: { output.append($0) }
        )
    }

    func scalar<Value: PostgresDecodable & Sendable>(_ sql: String, as type: Value.Type) async throws -> Value? {
        try await withConnection(configuration) { connection in
            var result: Value?
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger)
                .decode(Value.self)
            { result = result ?? value }
            return result
        }
    }

    func tableExists(_ name: String) async throws -> Bool {
        try await scalar("SELECT to_regclass('\(name)') IS NOT NULL", as: Bool.self) ?? false
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: directory) }
}

func expectMigrationError(
    _ code: MigrateExitCode,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void,
    where check: (MigrationError) -> Bool = { _ in true }
) async {
    do {
        try await body()
        Issue.record("expected a \(code) error, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as MigrationError {
        #expect(error.exitCode == code, "\(error)", sourceLocation: sourceLocation)
        #expect(check(error), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a MigrationError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct MigratorTests {
    @Test func upAppliesInOrderOnceAndRecordsHistory() async throws {
        let fixture = try await MigrationFixture.make("up")
        defer { fixture.cleanUp() }
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);\nINSERT INTO one VALUES (1);\n")
        try fixture.write("0002_second.sql", "-- a comment; with a semicolon\nCREATE TABLE two (t text DEFAULT 'a;b');")
        try fixture.write("README.md", "not a migration")

        let status = try await fixture.migrator().status()
        #expect(status.pending == 2 && status.exitCode == .pending)

        let dry = try await fixture.migrator { $0.dryRun = true }.up()
        #expect(dry.wouldApply == ["0001_first.sql", "0002_second.sql"])
        #expect(try await fixture.tableExists("one") == false, "a dry run changes nothing")

        let report = try await fixture.migrator().up()
        #expect(report.applied == ["0001_first.sql", "0002_second.sql"])
        #expect(try await fixture.tableExists("two"))
        #expect(
            try await fixture.scalar("SELECT count(*) FROM schema_migrations WHERE status = 'applied'", as: Int.self)
                == 2
        )
        let checksum = try await fixture.scalar(
            "SELECT checksum FROM schema_migrations WHERE version = 1",
            as: String.self
        )
        #expect(checksum == MigrationFile.checksum(of: "CREATE TABLE one (id int);\nINSERT INTO one VALUES (1);\n"))

        let again = try await fixture.migrator().up()
        #expect(again.applied.isEmpty)
        #expect(fixture.output.all.contains { $0.contains("nothing to apply") })

        let after = try await fixture.migrator().status()
        #expect(after.exitCode == .success)
        #expect(after.entries.map(\.state) == ["applied", "applied"])
        #expect(after.table().contains("0002") && after.json().contains("\"state\" : \"applied\""))
        #expect(try await fixture.migrator().validate() == 0)
    }

    @Test func theRepositorySchemaMigrates() async throws {
        let configuration = try await TestPostgres.shared.freshDatabase("schema", migrated: false)
        let migrator = Migrator(configuration: configuration, directory: repositoryMigrations, output: { _ in })
        #expect(try await migrator.up().applied == Self.repositoryMigrationFiles())
        #expect(try await migrator.status().exitCode == .success)
    }

    /// Every migration file of the repository, in the order they apply.
    static func repositoryMigrationFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: repositoryMigrations).filter { $0.hasSuffix(".sql") }
            .sorted()
    }

    /// A fresh database migrated to 0001 only, holding what `sql` inserts: a database as the previous release left it.
    static func databaseAtTheFirstMigration(_ name: String, holding sql: String) async throws -> DatabaseConfiguration {
        let configuration = try await TestPostgres.shared.freshDatabase(name, migrated: false)
        let firstOnly = try makeTemporaryDirectory(prefix: "ts\(name)")
        defer { try? FileManager.default.removeItem(atPath: firstOnly) }
        try FileManager.default.copyItem(
            atPath: repositoryMigrations + "/0001_create_timesheets.sql",
            toPath: firstOnly + "/0001_create_timesheets.sql"
        )
        _ = try await Migrator(configuration: configuration, directory: firstOnly, output: { _ in }).up()
        _ = try await withConnection(configuration) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger)
        }
        return configuration
    }

    /// A database that already holds entries gets its user-day totals from them (rejected entries do not count).
    @Test func theDayTotalsMigrationBackfillsExistingEntries() async throws {
        let configuration = try await Self.databaseAtTheFirstMigration(
            "backfill",
            holding: """
                INSERT INTO timesheets (user_id, work_date, project, hours, status, created_at, updated_at, \
                reviewed_by, reviewed_at)
                VALUES ('a', DATE '2017-05-10', 'P', 8, 'pending', now(), now(), NULL, NULL),
                       ('a', DATE '2017-05-10', 'Q', 7.5, 'approved', now(), now(), 'm', now()),
                       ('a', DATE '2017-05-10', 'R', 9, 'rejected', now(), now(), 'm', now()),
                       ('b', DATE '2017-05-11', 'P', 3.25, 'pending', now(), now(), NULL, NULL)
                """
        )
        let migrator = Migrator(configuration: configuration, directory: repositoryMigrations, output: { _ in })
        #expect(try await migrator.up().applied == Array(try Self.repositoryMigrationFiles().dropFirst()))
        let totals = try await withConnection(configuration) { connection in
            var rows: [String] = []
            for try await (user, hours) in try await connection.query(
                "SELECT user_id, hours::text FROM timesheet_day_totals ORDER BY user_id",
                logger: testLogger
            ).decode((String, String).self) { rows.append("\(user)=\(hours)") }
            return rows
        }
        #expect(totals == ["a=15.50", "b=3.25"])
    }

    /// A day already above 24 hours (written around the old checks) stops the migration with the days named, and the
    /// migration is rolled back, so it can run again once they are fixed.
    @Test func theDayTotalsMigrationNamesDaysAlreadyOverTheLimit() async throws {
        let configuration = try await Self.databaseAtTheFirstMigration(
            "overfull",
            holding: """
                INSERT INTO timesheets (user_id, work_date, project, hours, created_at, updated_at)
                VALUES ('late', DATE '2017-05-10', 'P', 20, now(), now()),
                       ('late', DATE '2017-05-10', 'Q', 8, now(), now())
                """
        )
        let migrator = Migrator(configuration: configuration, directory: repositoryMigrations, output: { _ in })
        await expectMigrationError(.sqlFailure) {
            _ = try await migrator.up()
        } where: { error in
            "\(error)".contains("user-days above 24 hours: late on 2017-05-10 (28.00 h)")
        }
        #expect(try await migrator.status().exitCode == .pending, "nothing of 0002 was recorded or left behind")
    }

    @Test func createPicksTheNextNumber() async throws {
        let directory = try makeTemporaryDirectory(prefix: "tscreate")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Migrator.create(name: "Add clients", in: directory)
        #expect(first.hasSuffix("/0001_add_clients.sql"))
        try "".write(toFile: directory + "/0007_seven.sql", atomically: true, encoding: .utf8)
        let next = try Migrator.create(name: "index-on-project", in: directory)
        #expect(next.hasSuffix("/0008_index_on_project.sql"))
        #expect(try MigrationFile.load(from: directory).map(\.version) == [1, 7, 8])
        await expectMigrationError(.usage) { _ = try Migrator.create(name: "!!!", in: directory) }
    }

    @Test func aChangedFileIsRefusedUnlessAllowedOrRealigned() async throws {
        let fixture = try await MigrationFixture.make("tamper")
        defer { fixture.cleanUp() }
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);\n")
        try await fixture.migrator().up()

        // Line endings alone do not count as a change.
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);\r\n")
        #expect(try await fixture.migrator().validate() == 0)

        try fixture.write("0001_first.sql", "CREATE TABLE one (id bigint);\n")
        try fixture.write("0002_second.sql", "CREATE TABLE two (id int);\n")
        await expectMigrationError(.validationFailure) {
            try await fixture.migrator().up()
        } where: {
            "\($0)".contains("0001_first.sql was changed")
        }
        #expect(try await fixture.tableExists("two") == false, "nothing runs after a failed validation")
        #expect(try await fixture.migrator().status().entries.first?.state == "modified")

        try await fixture.migrator { $0.allowModified = true }.up()
        #expect(try await fixture.tableExists("two"))
        #expect(try await fixture.migrator().repair(realignChecksums: true).realigned == ["0001_first.sql"])
        #expect(try await fixture.migrator().validate() == 0)
    }

    @Test func aMissingFileMeansTheDatabaseIsAhead() async throws {
        let fixture = try await MigrationFixture.make("missing")
        defer { fixture.cleanUp() }
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);")
        try fixture.write("0002_second.sql", "CREATE TABLE two (id int);")
        try await fixture.migrator().up()
        try fixture.remove("0002_second.sql")
        await expectMigrationError(.validationFailure) {
            try await fixture.migrator().up()
        } where: {
            "\($0)".contains("version 0002 (second) is applied but has no file")
        }
        let status = try await fixture.migrator().status()
        #expect(status.entries.last?.state == "missing file" && status.exitCode == .validationFailure)
        try await fixture.migrator { $0.allowMissing = true }.up()
    }

    @Test func anOutOfOrderFileIsRefusedUnlessAllowed() async throws {
        let fixture = try await MigrationFixture.make("order")
        defer { fixture.cleanUp() }
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);")
        try fixture.write("0003_third.sql", "CREATE TABLE three (id int);")
        try await fixture.migrator().up()
        try fixture.write("0002_second.sql", "CREATE TABLE two (id int);")
        await expectMigrationError(.validationFailure) {
            try await fixture.migrator().up()
        } where: {
            "\($0)".contains("0002_second.sql is pending but older than the newest applied version 0003")
        }
        #expect(try await fixture.migrator().status().entries.map(\.state) == ["applied", "out of order", "applied"])
        #expect(try await fixture.migrator { $0.allowOutOfOrder = true }.up().applied == ["0002_second.sql"])
    }

    @Test func aFailingMigrationLeavesNothingHalfApplied() async throws {
        let fixture = try await MigrationFixture.make("failing")
        defer { fixture.cleanUp() }
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);")
        try fixture.write(
            "0002_broken.sql",
            "CREATE TABLE two (id int);\nINSERT INTO two VALUES (1);\n\nINSERT INTO two\n  VALUES ('not a number');\n"
        )
        try fixture.write("0003_third.sql", "CREATE TABLE three (id int);")
        await expectMigrationError(.sqlFailure) {
            try await fixture.migrator().up()
        } where: { error in
            guard case .migrationFailed(let failure) = error else { return false }
            return failure.file.hasSuffix("0002_broken.sql") && failure.statement == 3 && failure.line == 5
                && failure.column == 11 && failure.sqlState == "22P02" && failure.isTransactional
        }
        #expect(try await fixture.tableExists("one"), "the file before it committed")
        #expect(try await fixture.tableExists("two") == false, "the failing file was rolled back")
        #expect(try await fixture.tableExists("three") == false, "nothing after it ran")
        #expect(try await fixture.scalar("SELECT count(*) FROM schema_migrations", as: Int.self) == 1)

        try fixture.write("0002_broken.sql", "CREATE TABLE two (id int);")
        #expect(try await fixture.migrator().up().applied == ["0002_broken.sql", "0003_third.sql"])
    }

    @Test func aFailedNoTransactionFileBlocksUntilRepaired() async throws {
        let fixture = try await MigrationFixture.make("notx")
        defer { fixture.cleanUp() }
        try fixture.write(
            "0001_table.sql",
            "CREATE TABLE items (id int, name text);\nINSERT INTO items VALUES (1, 'a'), (1, 'b');"
        )
        try fixture.write(
            "0002_index.sql",
            "-- migrate:no-transaction\n"
                + "CREATE INDEX CONCURRENTLY items_name_idx ON items (name);\n"
                + "CREATE UNIQUE INDEX CONCURRENTLY items_id_idx ON items (id);\n"
        )
        await expectMigrationError(.sqlFailure) {
            try await fixture.migrator().up()
        } where: { error in
            guard case .migrationFailed(let failure) = error else { return false }
            return failure.statement == 2 && failure.sqlState == "23505" && !failure.isTransactional
        }
        #expect(
            try await fixture.scalar("SELECT status FROM schema_migrations WHERE version = 2", as: String.self)
                == "failed"
        )
        #expect(try await fixture.tableExists("items_name_idx"), "statements before the failure stay applied")

        await expectMigrationError(.validationFailure) {
            try await fixture.migrator().up()
        } where: {
            "\($0)".contains("repair")
        }
        // The operator undoes the partial work, fixes the data and repairs.
        try await withConnection(fixture.configuration) { connection in
            try await connection.query("DROP INDEX IF EXISTS items_id_idx", logger: testLogger)
            try await connection.query("DROP INDEX items_name_idx", logger: testLogger)
            try await connection.query("UPDATE items SET id = 2 WHERE name = 'b'", logger: testLogger)
        }
        #expect(try await fixture.migrator().repair().removedFailed == ["0002_index"])
        #expect(try await fixture.migrator().up().applied == ["0002_index.sql"])
        #expect(
            try await fixture.scalar("SELECT transactional FROM schema_migrations WHERE version = 2", as: Bool.self)
                == false
        )
    }

    @Test func twoMigratorsAtOnceApplyEachFileOnce() async throws {
        let fixture = try await MigrationFixture.make("race")
        defer { fixture.cleanUp() }
        try fixture.write("0001_slow.sql", "CREATE TABLE slow (id int);\nSELECT pg_sleep(1);")
        try fixture.write("0002_next.sql", "CREATE TABLE next (id int);")
        async let first = fixture.migrator().up()
        async let second = fixture.migrator().up()
        let (a, b) = try await (first, second)
        #expect((a.applied + b.applied).sorted() == ["0001_slow.sql", "0002_next.sql"])
        #expect(a.applied.isEmpty || b.applied.isEmpty)
        #expect(try await fixture.scalar("SELECT count(*) FROM schema_migrations", as: Int.self) == 2)
        #expect(
            fixture.output.all.contains { $0.contains("waiting for the migration lock, held by 'timesheets migrate") }
        )
    }

    @Test func aHeldLockTimesOutNamingTheHolder() async throws {
        let fixture = try await MigrationFixture.make("lock")
        defer { fixture.cleanUp() }
        try fixture.write("0001_first.sql", "CREATE TABLE one (id int);")
        try await withConnection(fixture.configuration) { connection in
            try await connection.query("SELECT pg_advisory_lock(1953066341, 1)", logger: testLogger)
            let started = ContinuousClock.now
            await expectMigrationError(.lockTimeout) {
                try await fixture.migrator { $0.lockTimeout = .seconds(1) }.up()
            } where: {
                "\($0)".contains("held by") && "\($0)".contains("pid")
            }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
        #expect(try await fixture.migrator().up().applied == ["0001_first.sql"])
    }

    @Test func badFileNamesAreRefused() async throws {
        let directory = try makeTemporaryDirectory(prefix: "tsnames")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["0001_ok.sql", "0001_again.sql", "12_short.sql", "0003_Upper.sql", "0004-dash.sql"] {
            try "SELECT 1;".write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
        try "BEGIN;\nSELECT 1;\nCOMMIT;".write(toFile: directory + "/0005_tx.sql", atomically: true, encoding: .utf8)
        do {
            _ = try MigrationFile.load(from: directory)
            Issue.record("expected invalid files")
        } catch {
            let text = "\(error)"
            #expect(error.exitCode == .validationFailure)
            for mention in [
                "12_short.sql", "0003_Upper.sql", "0004-dash.sql", "version 0001 is used by several files",
                "0005_tx.sql:1: BEGIN",
            ] {
                #expect(text.contains(mention), "\(mention) in \(text)")
            }
        }
    }

    @Test func theDirectoryIsFoundWithoutFlags() throws {
        let root = try makeTemporaryDirectory(prefix: "tsdir")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/migrations", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/.build/debug", withIntermediateDirectories: true)
        #expect(
            try MigrationDirectory.locate(explicit: nil, workingDirectory: root, executablePath: "/nowhere/x") == root
                + "/migrations"
        )
        #expect(
            try MigrationDirectory.locate(
                explicit: nil,
                workingDirectory: "/",
                executablePath: root + "/.build/debug/timesheets"
            )
                == root + "/migrations"
        )
        #expect(throws: MigrationError.self) {
            try MigrationDirectory.locate(explicit: root + "/absent", workingDirectory: root, executablePath: "")
        }
    }
}

@Suite struct MigratorConnectionTests {
    @Test func waitRetriesUntilALateServerComesUp() async throws {
        let port = try freeTestPort()
        try await withPrivateCluster(port: port) { cluster in
            // Initialise ahead so the late start below is quick, then stop.
            try await cluster.start()
            try await cluster.stop()
            let directory = try makeTemporaryDirectory(prefix: "tswait")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "CREATE TABLE waited (id int);".write(
                toFile: directory + "/0001_waited.sql",
                atomically: true,
                encoding: .utf8
            )
            var options = Migrator.Options()
            options.waitTimeout = .seconds(60)
            let output = OutputLines()
            let migrator = Migrator(
                configuration: try DatabaseConfiguration(
                    url: LocalPostgresCluster.url(port: port, database: "postgres")
                ),
                directory: directory,
                options: options,
                output: { output.append($0) }
            )
            async let applied = migrator.up()
            try await Task.sleep(for: .seconds(2))
            try await cluster.start()
            #expect(try await applied.applied == ["0001_waited.sql"])
            #expect(output.all.contains { $0.contains("waiting for the database") })
        }
    }

    @Test func anUnreachableDatabaseFailsAtOnceWithoutWait() async throws {
        let port = try freeTestPort()
        let directory = try makeTemporaryDirectory(prefix: "tsunreach")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try DatabaseConfiguration(url: LocalPostgresCluster.url(port: port, database: "postgres"))
        let started = ContinuousClock.now
        await expectMigrationError(.unreachable) {
            try await Migrator(configuration: configuration, directory: directory, output: { _ in }).up()
        }
        var options = Migrator.Options()
        options.waitTimeout = .seconds(1)
        await expectMigrationError(.unreachable) {
            _ = try await Migrator(
                configuration: configuration,
                directory: directory,
                options: options,
                output: { _ in }
            ).status()
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func wrongCredentialsFailFastEvenWhenWaiting() async throws {
        var configuration = try await TestPostgres.shared.baseConfiguration()
        configuration.username = "no_such_role"
        let directory = try makeTemporaryDirectory(prefix: "tscred")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Migrator.Options()
        options.waitTimeout = .seconds(30)
        let started = ContinuousClock.now
        await expectMigrationError(.connectionRejected) {
            try await Migrator(configuration: configuration, directory: directory, options: options, output: { _ in })
                .up()
        } where: {
            "\($0)".contains("28000")
        }
        configuration.username = "postgres"
        configuration.database = "no_such_database"
        await expectMigrationError(.connectionRejected) {
            try await Migrator(configuration: configuration, directory: directory, options: options, output: { _ in })
                .up()
        } where: {
            "\($0)".contains("3D000")
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}

func freeTestPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
