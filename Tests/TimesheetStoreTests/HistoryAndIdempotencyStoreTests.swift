import Foundation
import PostgresNIO
import Synchronization
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetStore

/// The SQL of migration 0003: events written with their changes, and idempotency keys in PostgreSQL.
@Suite struct HistoryAndIdempotencyStoreTests {
    static let database = SuiteDatabase("history")
    static let now = Date(timeIntervalSince1970: 1_700_000_000.5)

    static func user(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(8))" }
    static func entry(_ owner: String, _ day: Int = 17_000, hundredths: Int = 100) -> NewTimesheet {
        NewTimesheet(
            userID: owner,
            date: CalendarDay(daysSinceEpoch: day),
            project: "P",
            hours: Hours(hundredths: hundredths)
        )
    }

    static func request(_ scope: String, _ key: String, digest: [UInt8] = [1]) -> IdempotentRequest {
        IdempotentRequest(scope: scope, key: key, operation: "POST /timesheets", digest: digest) { stored in
            RecordedAnswer(status: 201, location: "/timesheets/\(stored[0].id)", body: Array("\(stored[0].id)".utf8))
        }
    }

    static func rows(_ connection: PostgresConnection, _ sql: String) async throws -> [String] {
        var lines: [String] = []
        for try await line in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger)
            .decode(String.self)
        {
            lines.append(line)
        }
        return lines
    }

    /// The one INSERT of `POST /timesheets` carries its event: one statement, and both rows are there.
    @Test func aCreateWritesItsEventInTheSameStatement() async throws {
        #expect(InsertEntryStatement.sql.components(separatedBy: "INSERT INTO").count == 3)
        #expect(!InsertEntryStatement.sql.contains(";"), "one statement")
        let configuration = try await Self.database.get()
        let owner = Self.user("one")
        let stored = try await withRepository(configuration) { try await $0.insert([Self.entry(owner)], at: Self.now) }
        let events = try await withConnection(configuration) { connection in
            try await Self.rows(
                connection,
                "SELECT action || ' ' || actor || ' ' || owner_id || ' ' || (at = to_timestamp(1700000000.5))::text "
                    + "FROM timesheet_events WHERE entry_id = \(stored[0].id)"
            )
        }
        #expect(events == ["created \(owner) \(owner) true"])
    }

    /// An edit's event holds the fields before and after as the store's JSON, hours in exact hundredths.
    @Test func editsStoreTheirFieldsAsJSON() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.user("edit")
        let id = try await withRepository(configuration) { repository in
            let stored = try await repository.insert([Self.entry(owner, hundredths: 125)], at: Self.now)[0]
            _ = try await repository.update(stored.id, by: owner) {
                try $0.applying(
                    TimesheetChanges(hours: Hours(hundredths: 1_075), notes: .some("a \"quoted\" note")),
                    at: Self.now
                )
            }
            return stored.id
        }
        let stored = try await withConnection(configuration) { connection in
            try await Self.rows(
                connection,
                "SELECT before::text || ' | ' || after::text FROM timesheet_events "
                    + "WHERE entry_id = \(id) AND action = 'updated'"
            )
        }
        #expect(stored.count == 1)
        #expect(stored.first?.contains(#""hundredths": 125"#) == true, "\(stored)")
        #expect(stored.first?.contains(#""hundredths": 1075"#) == true, "\(stored)")
        #expect(stored.first?.contains(#""notes": "a \"quoted\" note""#) == true, "\(stored)")
    }

    /// Two replicas (two repositories, each with its own pools) race one key: one entry, one answer, one key row.
    @Test func twoReplicasRacingOneKeyWriteOnce() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.user("race")
        let outcomes = try await withRepository(configuration) { first in
            try await withRepository(configuration) { second in
                try await withThrowingTaskGroup(of: IdempotentOutcome.self) { group in
                    for index in 0..<30 {
                        let replica = index.isMultiple(of: 2) ? first : second
                        group.addTask {
                            try await replica.insert(
                                [Self.entry(owner)],
                                at: Self.now,
                                idempotent: Self.request(owner, "k")
                            )
                        }
                    }
                    return try await group.reduce(into: [IdempotentOutcome]()) { $0.append($1) }
                }
            }
        }
        #expect(outcomes.filter { if case .written = $0 { true } else { false } }.count == 1)
        #expect(Set(outcomes.map(\.answer)).count == 1)
        let counts = try await withConnection(configuration) { connection in
            try await Self.rows(
                connection,
                "SELECT (SELECT count(*) FROM timesheets WHERE user_id = '\(owner)')::text || ' ' || "
                    + "(SELECT count(*) FROM idempotency_keys WHERE caller_id = '\(owner)' AND status = 201)::text"
            )
        }
        #expect(counts == ["1 1"])
    }

    /// A request whose key another transaction holds waits for it: when that one commits its answer, the request
    /// replays it and writes nothing; when it rolls back, the request claims the key and writes.
    @Test(arguments: [true, false])
    func aRequestWaitsForTheTransactionHoldingItsKey(holderCommits: Bool) async throws {
        let configuration = try await Self.database.get()
        let owner = Self.user("held")
        try await withConnection(configuration) { holder in
            try await holder.query("BEGIN", logger: testLogger)
            try await holder.query(
                """
                INSERT INTO idempotency_keys (caller_id, key, operation, request_sha256, created_at, expires_at)
                VALUES (\(owner), 'k', 'POST /timesheets', '\\x01'::bytea, now(), now() + interval '1 day')
                """,
                logger: testLogger
            )
            try await withRepository(configuration) { repository in
                let finished = Mutex(false)
                let waiter = Task {
                    defer { finished.withLock { $0 = true } }
                    return try await repository.insert(
                        [Self.entry(owner)],
                        at: Self.now,
                        idempotent: Self.request(owner, "k")
                    )
                }
                try await Task.sleep(for: .milliseconds(700))
                #expect(finished.withLock { $0 } == false, "the request waits while the key is held")
                if holderCommits {
                    try await holder.query(
                        """
                        UPDATE idempotency_keys SET status = 201, body = '\\x3432'::bytea
                        WHERE caller_id = \(owner) AND key = 'k'
                        """,
                        logger: testLogger
                    )
                    try await holder.query("COMMIT", logger: testLogger)
                    #expect(try await waiter.value == .replayed(RecordedAnswer(status: 201, body: Array("42".utf8))))
                } else {
                    try await holder.query("ROLLBACK", logger: testLogger)
                    guard case .written(let stored, _) = try await waiter.value else {
                        Issue.record("the key was free again after the rollback")
                        return
                    }
                    #expect(stored.count == 1)
                }
            }
        }
        let entries = try await withConnection(configuration) { connection in
            try await Self.rows(connection, "SELECT count(*)::text FROM timesheets WHERE user_id = '\(owner)'")
        }
        #expect(entries == [holderCommits ? "0" : "1"])
    }

    /// Nothing of a failed write stays behind: not the entry, not its event, not the key (so a retry runs again).
    @Test func aFailedWriteLeavesNeitherEntryNorKey() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.user("fail")
        try await withRepository(configuration) { repository in
            let failing = IdempotentRequest(scope: owner, key: "k", operation: "POST /timesheets", digest: [1]) { _ in
                throw TimesheetError.notFound(TimesheetID(1))
            }
            await #expect(throws: TimesheetError.self) {
                _ = try await repository.insert([Self.entry(owner)], at: Self.now, idempotent: failing)
            }
            _ = try await repository.insert([Self.entry(owner, hundredths: 2_400)], at: Self.now)
            await #expect(throws: TimesheetError.self) {
                _ = try await repository.insert(
                    [Self.entry(owner)],
                    at: Self.now,
                    idempotent: Self.request(owner, "full")
                )
            }
        }
        let left = try await withConnection(configuration) { connection in
            try await Self.rows(
                connection,
                "SELECT (SELECT count(*) FROM timesheets WHERE user_id = '\(owner)')::text || ' ' || "
                    + "(SELECT count(*) FROM timesheet_events WHERE owner_id = '\(owner)')::text || ' ' || "
                    + "(SELECT count(*) FROM idempotency_keys WHERE caller_id = '\(owner)')::text"
            )
        }
        #expect(left == ["1 1 0"], "only the full day's own entry and its event")
    }

    /// The previous release, still serving while migration 0003's release rolls out, inserts entries without
    /// `created_by` and writes no events: such an entry reads as recorded by its owner, and its history starts with
    /// its creation all the same.
    @Test func entriesOfThePreviousReleaseReadAsRecordedByTheirOwners() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.user("previous")
        let id = try await withConnection(configuration) { connection in
            var id: Int64 = 0
            for try await inserted in try await connection.query(
                """
                INSERT INTO timesheets (user_id, work_date, project, hours, notes, created_at, updated_at)
                VALUES (\(owner), DATE '2017-05-10', 'P', 1.5, NULL, to_timestamp(1700000000.5), now())
                RETURNING id
                """,
                logger: testLogger
            ).decode(Int64.self) { id = inserted }
            return TimesheetID(id)
        }
        try await withRepository(configuration) { repository in
            #expect(try await repository.entry(id)?.createdBy == owner)
            let history = try await repository.history(of: id)
            #expect(history.map(\.action) == [.created] && history.first?.actor == owner)
            #expect(history.first.map { abs($0.at.timeIntervalSince(Self.now)) < 0.001 } == true)
            _ = try await repository.update(id, by: "boss") { try $0.approved(by: "boss", at: Self.now) }
            #expect(try await repository.history(of: id).map(\.action) == [.created, .approved])
        }
    }

    /// A key past its lifetime is claimed afresh, even with another body.
    @Test func anExpiredKeyIsClaimedAgain() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.user("expired")
        try await withRepository(configuration) { repository in
            var short = Self.request(owner, "k")
            short.lifetime = 10
            _ = try await repository.insert([Self.entry(owner)], at: Self.now, idempotent: short)
            let later = try await repository.insert(
                [Self.entry(owner, 17_001)],
                at: Self.now.addingTimeInterval(11),
                idempotent: Self.request(owner, "k", digest: [2])
            )
            guard case .written = later else {
                Issue.record("an expired key was not claimed again: \(later)")
                return
            }
        }
    }
}

/// The purge of expired keys, on a database of its own: other suites' keys would be purged first (oldest first).
@Suite struct IdempotencyKeyPurgeTests {
    static let database = SuiteDatabase("purge")

    /// Each new claim purges up to 100 expired keys of anyone, oldest first, and never a live one.
    @Test func newClaimsPurgeExpiredKeys() async throws {
        let configuration = try await Self.database.get()
        let stale = HistoryAndIdempotencyStoreTests.user("stale")
        let owner = HistoryAndIdempotencyStoreTests.user("claim")
        _ = try await withConnection(configuration) { connection in
            try await connection.query(
                """
                INSERT INTO idempotency_keys (caller_id, key, operation, request_sha256, status, body, created_at,
                                              expires_at)
                SELECT \(stale), 'old-' || g, 'POST /timesheets', '\\x01'::bytea, 201, '\\x7b7d'::bytea,
                       now() - interval '2 days', now() - interval '1 day' - g * interval '1 second'
                FROM generate_series(1, 150) AS g
                UNION ALL
                SELECT \(stale), 'live', 'POST /timesheets', '\\x01'::bytea, 201, '\\x7b7d'::bytea,
                       now(), now() + interval '1 day'
                """,
                logger: testLogger
            )
        }
        func staleKeys() async throws -> [String] {
            try await withConnection(configuration) { connection in
                try await HistoryAndIdempotencyStoreTests.rows(
                    connection,
                    "SELECT count(*)::text || ' ' || count(*) FILTER (WHERE key = 'live')::text FROM idempotency_keys "
                        + "WHERE caller_id = '\(stale)'"
                )
            }
        }
        try await withRepository(configuration) { repository in
            _ = try await repository.insert(
                [HistoryAndIdempotencyStoreTests.entry(owner)],
                at: Date(),
                idempotent: HistoryAndIdempotencyStoreTests.request(owner, "a")
            )
            #expect(try await staleKeys() == ["51 1"])
            _ = try await repository.insert(
                [HistoryAndIdempotencyStoreTests.entry(owner, 17_001)],
                at: Date(),
                idempotent: HistoryAndIdempotencyStoreTests.request(owner, "b")
            )
            #expect(try await staleKeys() == ["1 1"])
        }
    }
}
