import Foundation
import PostgresNIO
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetStore

/// The same behavioural suite the in-memory repository passes, against PostgreSQL.
@Suite struct PostgresRepositoryContract {
    static let database = SuiteDatabase("contract")

    @Test(arguments: RepositoryContract.checks)
    func contract(_ check: RepositoryContract.Check) async throws {
        let configuration = try await Self.database.get()
        try await withRepository(configuration) { repository in
            try await check.run(repository)
        }
    }
}

@Suite struct PostgresRepositoryTests {
    static let database = SuiteDatabase("repository")
    static let now = Date(timeIntervalSince1970: 1_700_000_000.123_456)

    static func day(_ text: String) -> CalendarDay { try! CalendarDay.parse(text).get() }
    static func user(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(8))" }

    @Test func hoursAndDaysRoundTripExactly() async throws {
        try await withRepository(try await Self.database.get()) { repository in
            let owner = Self.user("exact")
            // Every representable number of hours, each on its own day so no day passes 24.
            let entries = (1...2_400).map { hundredths in
                NewTimesheet(
                    userID: owner,
                    date: CalendarDay(daysSinceEpoch: hundredths),
                    project: "P",
                    hours: Hours(hundredths: hundredths)
                )
            }
            let stored = try await repository.insert(entries, at: Self.now)
            #expect(stored.map(\.hours) == entries.map(\.hours))
            let read = try await repository.entries(TimesheetQuery(userID: owner, order: .oldestFirst, limit: 3_000))
            #expect(read.map(\.hours) == entries.map(\.hours))
            #expect(read.map(\.date) == entries.map(\.date))
            let totals = try await repository.dailyTotals(
                userID: owner,
                from: CalendarDay(daysSinceEpoch: 0),
                to: CalendarDay(daysSinceEpoch: 3_000)
            )
            #expect(totals.map(\.hours.hundredths) == Array(1...2_400))

            let edges = [
                CalendarDay(year: 1, month: 1, day: 1)!, CalendarDay(year: 9999, month: 12, day: 31)!,
                Self.day("2024-02-29"), Self.day("1969-12-31"),
            ]
            let edgeOwner = Self.user("edge")
            let edgeStored = try await repository.insert(
                edges.map { NewTimesheet(userID: edgeOwner, date: $0, project: "P", hours: Hours(hundredths: 5)) },
                at: Self.now
            )
            for entry in edgeStored {
                #expect(try await repository.entry(entry.id)?.date == entry.date)
            }
            let fetched = try await repository.entry(edgeStored[0].id)
            #expect(abs(fetched!.createdAt.timeIntervalSince(Self.now)) < 0.000_002, "timestamps keep microseconds")
        }
    }

    @Test func aLargeBatchIsAllOrNothing() async throws {
        try await withRepository(try await Self.database.get()) { repository in
            let owner = Self.user("batch")
            var entries = (0..<5_000).map { index in
                NewTimesheet(
                    userID: owner,
                    date: CalendarDay(daysSinceEpoch: 17_000 + index),
                    project: "P",
                    hours: Hours(hundredths: 800),
                    notes: index.isMultiple(of: 2) ? "note \(index)" : nil
                )
            }
            // The last entry pushes its day past 24 hours: nothing of the batch may be stored.
            entries.append(
                NewTimesheet(
                    userID: owner,
                    date: CalendarDay(daysSinceEpoch: 17_000),
                    project: "P",
                    hours: Hours(hundredths: 1_700)
                )
            )
            await #expect(throws: TimesheetError.self) { try await repository.insert(entries, at: Self.now) }
            #expect(
                try await repository.entries(TimesheetQuery(userID: owner, order: .newestDayFirst, limit: 10)).isEmpty
            )

            entries.removeLast()
            let stored = try await repository.insert(entries, at: Self.now)
            #expect(stored.count == 5_000)
            #expect(zip(stored, stored.dropFirst()).allSatisfy { $0.id < $1.id })
            let sample = try await repository.entry(stored[4_998].id)
            #expect(sample?.notes == "note 4998")
            #expect(try await repository.entry(stored[4_999].id)?.notes == nil)
        }
    }

    @Test func pagesWalkEveryEntryOnceWithManyOnOneDay() async throws {
        try await withRepository(try await Self.database.get()) { repository in
            let owner = Self.user("pages")
            var entries: [NewTimesheet] = []
            for dayOffset in 0..<10 {
                for _ in 0..<7 {
                    entries.append(
                        NewTimesheet(
                            userID: owner,
                            date: CalendarDay(daysSinceEpoch: 18_000 + dayOffset),
                            project: "P",
                            hours: Hours(hundredths: 100)
                        )
                    )
                }
            }
            let stored = try await repository.insert(entries, at: Self.now)
            var seen: [TimesheetID] = []
            var cursor: TimesheetCursor?
            repeat {
                let page = try await repository.entries(
                    TimesheetQuery(userID: owner, order: .newestDayFirst, after: cursor, limit: 6)
                )
                seen += page.map(\.id)
                cursor = page.count == 6 ? TimesheetCursor(order: .newestDayFirst, after: page.last!) : nil
            } while cursor != nil
            let expected = stored.sorted { ($0.date, $0.id) > ($1.date, $1.id) }.map(\.id)
            #expect(seen == expected)
        }
    }

    @Test func queriesUseTheIndexes() async throws {
        let configuration = try await Self.database.get()
        try await withConnection(configuration) { connection in
            try await connection.query("ANALYZE timesheets", logger: testLogger)
            try await connection.query("SET enable_seqscan = off", logger: testLogger)
            // On the suite's small, shared table any index is about as cheap as another (migration 0004's work_date
            // index was picked now and then); with sorting priced out, the plan must be the index that gives the
            // page's order by itself, which is what the list relies on at scale.
            try await connection.query("SET enable_sort = off", logger: testLogger)
            try await connection.query("SET enable_incremental_sort = off", logger: testLogger)
            func plan(_ sql: String) async throws -> String {
                var lines: [String] = []
                for try await line in try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN " + sql),
                    logger: testLogger
                )
                .decode(String.self) { lines.append(line) }
                return lines.joined(separator: "\n")
            }
            let own = try await plan(
                "SELECT id FROM timesheets WHERE user_id = 'x' AND (work_date, id) < (DATE '2017-05-10', 5) "
                    + "ORDER BY work_date DESC, id DESC LIMIT 50"
            )
            #expect(own.contains("timesheets_user_list_idx"), "\(own)")
            let queue = try await plan(
                "SELECT id FROM timesheets WHERE status = 'pending' AND id > 10 ORDER BY id LIMIT 50"
            )
            #expect(queue.contains("timesheets_pending_queue_idx"), "\(queue)")
        }
    }

    @Test func theSchemaRefusesWhatTheDomainRefuses() async throws {
        let configuration = try await Self.database.get()
        try await withConnection(configuration) { connection in
            try await connection.query(
                """
                INSERT INTO timesheets (user_id, work_date, project, hours, created_by, created_at, updated_at)
                VALUES ('schema-check', DATE '2017-05-10', 'P', 8, 'schema-check', now(), now())
                """,
                logger: testLogger
            )
            let invalid = [
                "hours = 0", "hours = 24.01", "hours = -1", "status = 'done'", "project = ''",
                "project = repeat('x', 201)", "notes = repeat('x', 2001)", "status = 'approved'",
                "rejection_reason = 'no'", "created_by = ''", "created_by = repeat('x', 256)",
            ]
            for change in invalid {
                await #expect(throws: PSQLError.self, "\(change)") {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "UPDATE timesheets SET \(change) WHERE user_id = 'schema-check'"),
                        logger: testLogger
                    )
                }
            }
        }
    }
}

/// The direct binary reading of entry rows gives exactly what PostgresNIO's generic decoding gives.
@Suite struct TimesheetRowDecoderTests {
    static let database = SuiteDatabase("row-decoder")

    /// Three entries of `owner` covering the shapes a row can take: Unicode text, NULL and empty notes, a day before
    /// 1970, an approved one (reviewer and time) and a rejected one (with a reason).
    static func storeSampleEntries(of owner: String, in configuration: DatabaseConfiguration) async throws {
        try await withRepository(configuration) { repository in
            let stored = try await repository.insert(
                [
                    NewTimesheet(
                        userID: owner,
                        date: CalendarDay(daysSinceEpoch: 17_000),
                        project: "Ünïcode ✓",
                        hours: Hours(hundredths: 725),
                        notes: "late shift"
                    ),
                    NewTimesheet(
                        userID: owner,
                        date: CalendarDay(daysSinceEpoch: -400),
                        project: "P",
                        hours: Hours(hundredths: 1),
                        notes: nil
                    ),
                    NewTimesheet(
                        userID: owner,
                        date: CalendarDay(daysSinceEpoch: 20_000),
                        project: "Q",
                        hours: Hours(hundredths: 2_400),
                        notes: ""
                    ),
                ],
                at: Date(timeIntervalSince1970: 1_700_000_000.123456)
            )
            _ = try await repository.update(stored[0].id, by: "tester") {
                try $0.approved(by: "boss", at: Date(timeIntervalSince1970: 1_700_000_100.5))
            }
            _ = try await repository.update(stored[1].id, by: "tester") {
                try $0.rejected(by: "boss", reason: "Wrong project", at: Date(timeIntervalSince1970: 1_700_000_200))
            }
        }
    }

    @Test func binaryCellsDecodeLikeTheGenericPath() async throws {
        let configuration = try await Self.database.get()
        let owner = "rows-\(UUID().uuidString.prefix(8))"
        try await Self.storeSampleEntries(of: owner, in: configuration)
        try await withConnection(configuration) { connection in
            var count = 0
            for try await row in try await connection.query(
                "SELECT \(unescaped: PostgresTimesheetRepository.columns) FROM timesheets WHERE user_id = \(owner)",
                logger: testLogger
            ) {
                let fast = try #require(TimesheetRowDecoder.timesheet(row), "a row of the expected shape")
                let (
                    id, userID, day, project, hundredths, notes, status, createdAt, updatedAt, reviewedBy, reviewedAt,
                    reason
                ) =
                    try row.decode(
                        (Int64, String, Int, String, Int, String?, String, Date, Date, String?, Date?, String?).self
                    )
                #expect(
                    fast.id == TimesheetID(id) && fast.userID == userID && fast.date == CalendarDay(daysSinceEpoch: day)
                )
                #expect(fast.project == project && fast.hours == Hours(hundredths: hundredths) && fast.notes == notes)
                #expect(fast.status.rawValue == status && fast.createdAt == createdAt && fast.updatedAt == updatedAt)
                #expect(
                    fast.reviewedBy == reviewedBy && fast.reviewedAt == reviewedAt && fast.rejectionReason == reason
                )
                count += 1
            }
            #expect(count == 3)
        }
    }

    /// The pages' composite rows (`ROW(columns)`) decode to exactly what the columns decode to, NULLs included.
    @Test func recordsDecodeLikeTheirColumns() async throws {
        let configuration = try await Self.database.get()
        let owner = "records-\(UUID().uuidString.prefix(8))"
        try await Self.storeSampleEntries(of: owner, in: configuration)
        try await withConnection(configuration) { connection in
            var count = 0
            for try await row in try await connection.query(
                """
                SELECT \(unescaped: TimesheetRecordDecoder.selectList),
                    \(unescaped: PostgresTimesheetRepository.columns)
                FROM timesheets WHERE user_id = \(owner)
                """,
                logger: testLogger
            ) {
                let cells = Array(row)
                let record = try #require(cells.first?.bytes)
                let fromRecord = try TimesheetRecordDecoder.timesheet(record: record)
                let fromColumns = try #require(
                    TimesheetRowDecoder.timesheet(cells: cells.dropFirst()),
                    "the columns in the expected shape"
                )
                #expect(fromRecord == fromColumns)
                count += 1
            }
            #expect(count == 3)
        }
    }

    /// A record of another shape is an error that says which field is wrong, never a wrong entry.
    @Test func recordsOfAnotherShapeAreRefused() async throws {
        try await withConnection(try await Self.database.get()) { connection in
            for (sql, expected) in [
                ("SELECT ROW(1::int8, 'u'::text)", "expected 13 fields"),
                (
                    "SELECT ROW(1::int4, 'u'::text, 1, 'p'::text, 1, NULL::text, 'pending'::text, now(), now(), "
                        + "NULL::text, NULL::timestamptz, NULL::text, 'u'::text)",
                    "field 1 of 13"
                ),
                (
                    "SELECT ROW(1::int8, NULL::text, 1, 'p'::text, 1, NULL::text, 'pending'::text, now(), now(), "
                        + "NULL::text, NULL::timestamptz, NULL::text, 'u'::text)",
                    "field 2 of 13"
                ),
                (
                    "SELECT ROW(1::int8, 'u'::text, 1, 'p'::text, 1, NULL::text, 'unknown'::text, now(), now(), "
                        + "NULL::text, NULL::timestamptz, NULL::text, 'u'::text)",
                    "field 7 of 13"
                ),
                (
                    "SELECT ROW(1::int8, 'u', 1, 'p'::text, 1, NULL::text, 'pending'::text, now(), now(), "
                        + "NULL::text, NULL::timestamptz, NULL::text, 'u'::text)",
                    "field 2 of 13"
                ),
            ] {
                for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger) {
                    let record = try #require(row.first?.bytes)
                    let error = #expect(throws: TimesheetRecordDecoder.UnexpectedRecord.self) {
                        try TimesheetRecordDecoder.timesheet(record: record)
                    }
                    #expect(error?.description.contains(expected) == true, "\(sql): \(String(describing: error))")
                }
            }
        }
    }
}

/// The 24-hour rule has one authority in PostgreSQL, the CHECK of `timesheet_day_totals`; the domain's
/// ``DailyLimit`` must say the same number, and the totals must follow every kind of write, including ones that do
/// not go through the repository.
@Suite struct DailyLimitAuthorityTests {
    static let database = SuiteDatabase("daily-limit")

    @Test func theDatabaseLimitIsTheDomainsLimit() async throws {
        try await withConnection(try await Self.database.get()) { connection in
            var definition = ""
            for try await text in try await connection.query(
                """
                SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'timesheet_day_totals_daily_limit'
                """,
                logger: testLogger
            ).decode(String.self) { definition = text }
            let hundredths = Hours.dailyLimit.hundredths
            let text = hundredths % 100 == 0 ? "\(hundredths / 100)" : "\(hundredths / 100).\(hundredths % 100)"
            #expect(definition == "CHECK ((hours <= (\(text))::numeric))", "\(definition)")
        }
    }

    @Test func totalsFollowInsertsEditsRejectionsAndDeletions() async throws {
        let configuration = try await Self.database.get()
        try await withConnection(configuration) { connection in
            func total() async throws -> String {
                var value = "none"
                for try await text in try await connection.query(
                    """
                    SELECT hours::text FROM timesheet_day_totals WHERE user_id = 'totals' \
                    AND work_date = DATE '2017-05-10'
                    """,
                    logger: testLogger
                ).decode(String.self) { value = text }
                return value
            }
            let insert = """
                INSERT INTO timesheets (user_id, work_date, project, hours, created_by, created_at, updated_at)
                VALUES ('totals', DATE '2017-05-10', 'P', 8, 'totals', now(), now())
                """
            try await connection.query(PostgresQuery(unsafeSQL: insert), logger: testLogger)
            try await connection.query(PostgresQuery(unsafeSQL: insert), logger: testLogger)
            #expect(try await total() == "16.00")
            try await connection.query(
                "UPDATE timesheets SET hours = 10 WHERE id = (SELECT min(id) FROM timesheets WHERE user_id = 'totals')",
                logger: testLogger
            )
            #expect(try await total() == "18.00")
            // A third entry of 8 hours would make 26: refused by the database itself, whoever writes.
            await #expect(throws: PSQLError.self) {
                try await connection.query(PostgresQuery(unsafeSQL: insert), logger: testLogger)
            }
            #expect(try await total() == "18.00")
            try await connection.query(
                """
                UPDATE timesheets SET status = 'rejected', reviewed_by = 'm', reviewed_at = now()
                WHERE id = (SELECT min(id) FROM timesheets WHERE user_id = 'totals')
                """,
                logger: testLogger
            )
            #expect(try await total() == "8.00")
            try await connection.query(
                "UPDATE timesheets SET work_date = DATE '2017-05-11' WHERE user_id = 'totals' AND status = 'pending'",
                logger: testLogger
            )
            #expect(try await total() == "0.00")
            try await connection.query("DELETE FROM timesheets WHERE user_id = 'totals'", logger: testLogger)
            var next = ""
            for try await text in try await connection.query(
                """
                SELECT hours::text FROM timesheet_day_totals WHERE user_id = 'totals' \
                AND work_date = DATE '2017-05-11'
                """,
                logger: testLogger
            ).decode(String.self) { next = text }
            #expect(next == "0.00")
        }
    }
}

/// Heavier races than the contract's, against the real database.
@Suite struct PostgresConcurrencyTests {
    static let database = SuiteDatabase("concurrency")
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// `true` when the change was made, `false` when the domain refused it (a conflict); anything else, such as a
    /// timeout or a driver error, is recorded as an issue.
    static func succeeded(_ change: () async throws -> Timesheet?) async -> Bool {
        do {
            return try await change() != nil
        } catch is TimesheetError {
            return false
        } catch {
            Issue.record("not a domain refusal: \(error)")
            return false
        }
    }

    @Test func fiftyParallelEditsAndApprovalsResolveConsistently() async throws {
        try await withRepository(try await Self.database.get()) { repository in
            let owner = "heavy-\(UUID().uuidString.prefix(8))"
            let entries = (0..<50).map { index in
                NewTimesheet(
                    userID: owner,
                    date: CalendarDay(daysSinceEpoch: 17_500 + index),
                    project: "P",
                    hours: Hours(hundredths: 100)
                )
            }
            let stored = try await repository.insert(entries, at: Self.now)
            enum Outcome: Sendable {
                case edit(TimesheetID, Bool)
                case approval(TimesheetID, Bool)
            }
            let outcomes = await withTaskGroup(of: Outcome.self) { group in
                for entry in stored {
                    group.addTask {
                        let result = await Self.succeeded {
                            try await repository.update(entry.id, by: "tester") {
                                try $0.applying(TimesheetChanges(hours: Hours(hundredths: 250)), at: Self.now)
                            }
                        }
                        return .edit(entry.id, result)
                    }
                    group.addTask {
                        let result = await Self.succeeded {
                            try await repository.update(entry.id, by: "tester") {
                                try $0.approved(by: "manager-\(entry.id)", at: Self.now)
                            }
                        }
                        return .approval(entry.id, result)
                    }
                    group.addTask {
                        let result = await Self.succeeded {
                            try await repository.update(entry.id, by: "tester") {
                                try $0.approved(by: "other-manager", at: Self.now)
                            }
                        }
                        return .approval(entry.id, result)
                    }
                }
                return await group.reduce(into: [Outcome]()) { $0.append($1) }
            }
            var edited: Set<TimesheetID> = []
            for outcome in outcomes {
                switch outcome {
                case .edit(let id, let succeeded): if succeeded { edited.insert(id) }
                case .approval(_, let succeeded): #expect(succeeded, "every approval succeeds")
                }
            }
            for entry in stored {
                let final = try await repository.entry(entry.id)
                #expect(final?.status == .approved)
                #expect(final?.hours == Hours(hundredths: edited.contains(entry.id) ? 250 : 100))
            }
        }
    }

    @Test func overlappingBatchesNeitherDeadlockNorPassTheLimit() async throws {
        try await withRepository(try await Self.database.get()) { repository in
            let owner = "overlap-\(UUID().uuidString.prefix(8))"
            let days = (0..<5).map { CalendarDay(daysSinceEpoch: 17_800 + $0) }
            // Each batch touches every day in a different order: 3 hours per day; at most 8 batches fit.
            let results = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        let order = index.isMultiple(of: 2) ? days : days.reversed()
                        let batch = order.map {
                            NewTimesheet(userID: owner, date: $0, project: "P", hours: Hours(hundredths: 300))
                        }
                        do {
                            _ = try await repository.insert(batch, at: Self.now)
                            return true
                        } catch let error as TimesheetError {
                            guard case .conflict = error else { return false }
                            return false
                        } catch {
                            Issue.record("unexpected error: \(error)")
                            return false
                        }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 8)
            let totals = try await repository.dailyTotals(userID: owner, from: days[0], to: days[4])
            #expect(totals.allSatisfy { $0.hours == Hours(hundredths: 2_400) })
        }
    }

    @Test func movesIntoOneDayRespectTheLimit() async throws {
        try await withRepository(try await Self.database.get()) { repository in
            let owner = "move-\(UUID().uuidString.prefix(8))"
            let target = CalendarDay(daysSinceEpoch: 17_900)
            let stored = try await repository.insert(
                (1...10).map {
                    NewTimesheet(
                        userID: owner,
                        date: CalendarDay(daysSinceEpoch: 17_900 + $0),
                        project: "P",
                        hours: Hours(hundredths: 700)
                    )
                },
                at: Self.now
            )
            let moved = await withTaskGroup(of: Bool.self) { group in
                for entry in stored {
                    group.addTask {
                        do {
                            _ = try await repository.update(entry.id, by: "tester") {
                                try $0.applying(TimesheetChanges(date: target), at: Self.now)
                            }
                            return true
                        } catch TimesheetError.conflict(let conflict) where conflict.code == .dailyLimitExceeded {
                            return false
                        } catch {
                            Issue.record("a refusal other than the daily limit: \(error)")
                            return false
                        }
                    }
                }
                return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(moved == 3, "three 7-hour entries fit in 24 hours")
            let totals = try await repository.dailyTotals(userID: owner, from: target, to: target)
            #expect(totals.first?.hours == Hours(hundredths: 2_100))
        }
    }
}
