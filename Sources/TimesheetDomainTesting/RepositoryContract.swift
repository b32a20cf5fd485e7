import Foundation
import TimesheetDomain

/// The behaviour every ``TimesheetRepository`` must show, runnable against any implementation.
///
/// Each check uses user ids of its own, so checks can share one database and run in parallel.
/// A test target runs them as a parameterised test:
///
/// ```swift
/// @Test(arguments: RepositoryContract.checks)
/// func contract(_ check: RepositoryContract.Check) async throws {
///     try await check.run(InMemoryTimesheetRepository())
/// }
/// ```
public enum RepositoryContract {
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        public let run: @Sendable (any TimesheetRepository) async throws -> Void
        public var description: String { name }
    }

    /// A broken promise, with where the contract states it.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static let checks: [Check] = [
        Check(name: "insert assigns increasing ids and timestamps", run: insertAssignsIDs),
        Check(name: "insert is all or nothing when a day would exceed 24 hours", run: insertIsAtomic),
        Check(name: "the daily limit counts existing entries but not rejected ones", run: dailyLimitCountsExisting),
        Check(name: "an unknown id is nil", run: unknownID),
        Check(name: "lists are newest day first and paginate by keyset", run: listOrderAndPagination),
        Check(name: "lists filter by range, project and status", run: listFilters),
        Check(name: "the review queue is oldest first", run: reviewQueueOrder),
        Check(name: "update applies a change atomically", run: updateApplies),
        Check(name: "a throwing change writes nothing", run: updateThrowingWritesNothing),
        Check(name: "an unchanged entry is not written", run: updateUnchangedWritesNothing),
        Check(name: "update checks the daily limit of the new day", run: updateChecksDailyLimit),
        Check(name: "delete removes the entry and ids are never reused", run: deleteRemoves),
        Check(name: "a throwing delete check keeps the entry", run: deleteCheckKeeps),
        Check(name: "daily totals sum per day and project without rejected entries", run: dailyTotals),
        Check(name: "text is stored verbatim", run: textVerbatim),
        Check(name: "hours reports sum exactly, filter, group and sort as the domain defines", run: hoursReports),
        Check(name: "hours reports group and sort text by its bytes", run: hoursReportsByBytes),
        Check(name: "parallel inserts never push a day past 24 hours", run: parallelInsertsRespectLimit),
        Check(name: "parallel approvals write once", run: parallelApprovals),
        Check(name: "an edit racing an approval resolves to one outcome", run: editRacingApproval),
        Check(name: "entries record who created them", run: createdByIsStored),
        Check(name: "every change is an event, oldest first, kept after deletion", run: historyRecordsEveryChange),
        Check(name: "a refused or empty change records no event", run: historyIgnoresRefusedChanges),
        Check(name: "an unknown id has no history", run: historyOfUnknownID),
        Check(name: "a repeated idempotent insert replays and stores nothing", run: idempotentReplay),
        Check(name: "an idempotency key reused for another request is refused", run: idempotentKeyReuse),
        Check(name: "idempotency keys are scoped and expire", run: idempotentKeysScopedAndExpiring),
        Check(name: "a refused idempotent insert leaves its key unused", run: idempotentRefusalKeepsKeyFree),
        Check(name: "parallel inserts under one key write once", run: idempotentParallel),
    ]

    // MARK: Fixtures

    static let now = Date(timeIntervalSince1970: 1_700_000_000.250)
    static func day(_ text: String) -> CalendarDay { try! CalendarDay.parse(text).get() }
    static func user(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(8))" }
    static func entry(
        _ userID: String,
        _ date: String,
        hundredths: Int = 800,
        project: String = "StoreZero"
    )
        -> NewTimesheet
    {
        NewTimesheet(userID: userID, date: day(date), project: project, hours: Hours(hundredths: hundredths))
    }

    static func expect(
        _ condition: Bool,
        _ message: @autoclosure () -> String,
        line: Int = #line
    ) throws {
        if !condition { throw Failure(description: "RepositoryContract.swift:\(line): \(message())") }
    }

    static func expectConflict(
        _ code: Conflict.Code,
        line: Int = #line,
        _ body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch let error as TimesheetError {
            guard case .conflict(let conflict) = error, conflict.code == code else {
                throw Failure(description: "RepositoryContract.swift:\(line): expected \(code) conflict, got \(error)")
            }
            return
        }
        throw Failure(description: "RepositoryContract.swift:\(line): expected a \(code) conflict, nothing was thrown")
    }

    static func sameInstant(_ lhs: Date?, _ rhs: Date?) -> Bool {
        guard let lhs, let rhs else { return lhs == nil && rhs == nil }
        return abs(lhs.timeIntervalSince(rhs)) < 0.001
    }

    static func all(_ repository: any TimesheetRepository, of userID: String) async throws -> [Timesheet] {
        try await repository.entries(TimesheetQuery(userID: userID, order: .newestDayFirst, limit: 1_000))
    }

    // MARK: Checks

    static func report(
        _ repository: any TimesheetRepository,
        _ request: HoursReportRequest
    ) async throws -> [HoursReportRow] {
        var rows: [HoursReportRow] = []
        for try await row in try await repository.hoursReport(request) { rows.append(row) }
        return rows
    }

    static func hoursReports(_ repository: any TimesheetRepository) async throws {
        let alice = user("alice")
        let bob = "bob-" + alice.dropFirst("alice-".count)
        let tag = alice.suffix(8)
        let project = "Report-\(tag)"
        let other = "Other-\(tag)"
        func store(_ entry: NewTimesheet, _ status: TimesheetStatus) async throws {
            let stored = try await repository.insert([entry], at: now)[0]
            switch status {
            case .pending: break
            case .approved:
                _ = try await repository.update(stored.id, by: "manager") { try $0.approved(by: "manager", at: now) }
            case .rejected:
                _ = try await repository.update(stored.id, by: "manager") {
                    try $0.rejected(by: "manager", reason: nil, at: now)
                }
            }
        }
        // 2019-06-02 is a Sunday (ISO week 2019-W22); 2019-06-03 starts 2019-W23.
        try await store(entry(alice, "2019-06-02", hundredths: 735, project: project), .approved)
        try await store(entry(alice, "2019-06-03", hundredths: 65, project: project), .approved)
        try await store(entry(alice, "2019-06-03", hundredths: 100, project: project), .pending)
        try await store(entry(bob, "2019-06-04", hundredths: 800, project: project), .approved)
        try await store(entry(bob, "2019-06-05", hundredths: 250, project: project), .rejected)
        try await store(entry(bob, "2019-06-05", hundredths: 300, project: other), .approved)
        try await store(entry(alice, "2019-06-10", hundredths: 400, project: project), .approved)
        let june2 = day("2019-06-02")
        let june9 = day("2019-06-09")
        let w22 = ISOWeek(containing: june2)
        let w23 = ISOWeek(containing: day("2019-06-03"))
        try expect(w22.description == "2019-W22" && w23.description == "2019-W23", "ISO weeks: \(w22), \(w23)")

        // Approved by default; 7.35 + 0.65 is exactly 8.
        let byUser = try await report(
            repository,
            HoursReportRequest(from: june2, to: june9, groupBy: [.user], project: project)
        )
        try expect(
            byUser == [
                HoursReportRow(userID: alice, hours: Hours(hundredths: 800), entries: 2),
                HoursReportRow(userID: bob, hours: Hours(hundredths: 800), entries: 1),
            ],
            "approved hours per user: \(byUser)"
        )
        let byWeekAndUser = try await report(
            repository,
            HoursReportRequest(from: june2, to: june9, groupBy: [.week, .user], status: nil, project: project)
        )
        try expect(
            byWeekAndUser == [
                HoursReportRow(userID: alice, week: w22, hours: Hours(hundredths: 735), entries: 1),
                HoursReportRow(userID: alice, week: w23, hours: Hours(hundredths: 165), entries: 2),
                HoursReportRow(userID: bob, week: w23, hours: Hours(hundredths: 1_050), entries: 2),
            ],
            "every status per week, then user: \(byWeekAndUser)"
        )
        let pending = try await report(
            repository,
            HoursReportRequest(from: june2, to: june9, groupBy: [.day], status: .pending, project: project)
        )
        try expect(
            pending == [HoursReportRow(day: day("2019-06-03"), hours: Hours(hundredths: 100), entries: 1)],
            "pending hours per day: \(pending)"
        )
        let rejected = try await report(
            repository,
            HoursReportRequest(from: june2, to: june9, groupBy: [.project, .user], status: .rejected, userID: bob)
        )
        try expect(
            rejected == [HoursReportRow(userID: bob, project: project, hours: Hours(hundredths: 250), entries: 1)],
            "rejected hours of one user: \(rejected)"
        )
        let aliceJune = try await report(
            repository,
            HoursReportRequest(
                from: day("2019-06-01"),
                to: day("2019-06-30"),
                groupBy: [.project, .day],
                status: nil,
                userID: alice
            )
        )
        try expect(
            aliceJune == [
                HoursReportRow(project: project, day: june2, hours: Hours(hundredths: 735), entries: 1),
                HoursReportRow(project: project, day: day("2019-06-03"), hours: Hours(hundredths: 165), entries: 2),
                HoursReportRow(project: project, day: day("2019-06-10"), hours: Hours(hundredths: 400), entries: 1),
            ],
            "one user's hours per project and day, both ends of the range included: \(aliceJune)"
        )
        let bobProjects = try await report(
            repository,
            HoursReportRequest(from: june2, to: june9, groupBy: [.user, .project], userID: bob)
        )
        try expect(
            bobProjects == [
                HoursReportRow(userID: bob, project: other, hours: Hours(hundredths: 300), entries: 1),
                HoursReportRow(userID: bob, project: project, hours: Hours(hundredths: 800), entries: 1),
            ],
            "sorted by user, then project: \(bobProjects)"
        )
        let nothing = try await report(
            repository,
            HoursReportRequest(from: day("2019-07-01"), to: day("2019-07-31"), userID: alice)
        )
        try expect(nothing.isEmpty, "a range without entries has no rows: \(nothing)")
    }

    static func hoursReportsByBytes(_ repository: any TimesheetRepository) async throws {
        let carol = user("carol")
        let tag = carol.suffix(8)
        // Composed and decomposed é are equal Swift strings but different bytes, and so different projects to
        // PostgreSQL; "Zeta" sorts before "alpha" by bytes (not in a dictionary order).
        let names = [
            "alpha-\(tag)", "Zeta-\(tag)", "\u{E9}t\u{E9}-\(tag)", "e\u{301}t\u{E9}-\(tag)", "=SUM(A1)-\(tag)",
        ]
        for (index, name) in names.enumerated() {
            _ = try await repository.insert(
                [entry(carol, "2019-06-0\(index + 1)", hundredths: 100 + index, project: name)],
                at: now
            )
        }
        let rows = try await report(
            repository,
            HoursReportRequest(
                from: day("2019-06-01"),
                to: day("2019-06-30"),
                groupBy: [.project],
                status: .pending,
                userID: carol
            )
        )
        let expected = [
            ("=SUM(A1)-\(tag)", 104), ("Zeta-\(tag)", 101), ("alpha-\(tag)", 100), ("e\u{301}t\u{E9}-\(tag)", 103),
            ("\u{E9}t\u{E9}-\(tag)", 102),
        ]
        try expect(rows.count == expected.count, "one row per distinct byte sequence: \(rows)")
        for (row, (name, hundredths)) in zip(rows, expected) {
            try expect(
                row.project.map { Array($0.utf8) } == Array(name.utf8) && row.hours.hundredths == hundredths,
                "\(String(reflecting: row.project)) with \(row.hours) "
                    + "where \(String(reflecting: name)) with \(hundredths)"
            )
        }
    }

    static func insertAssignsIDs(_ repository: any TimesheetRepository) async throws {
        let alice = user("alice")
        let stored = try await repository.insert(
            [entry(alice, "2017-05-10", hundredths: 500), entry(alice, "2017-05-11", hundredths: 750)],
            at: now
        )
        try expect(stored.count == 2, "two entries come back")
        try expect(stored[0].id < stored[1].id, "ids increase in input order")
        try expect(stored.allSatisfy { $0.status == .pending && $0.reviewedBy == nil }, "new entries are pending")
        try expect(
            stored.allSatisfy { sameInstant($0.createdAt, now) && sameInstant($0.updatedAt, now) },
            "timestamps are now"
        )
        let fetched = try await repository.entry(stored[1].id)
        try expect(
            fetched?.hours == Hours(hundredths: 750) && fetched?.date == day("2017-05-11"),
            "entry reads back: \(String(describing: fetched))"
        )
        try expect(
            fetched?.userID == alice && fetched?.project == "StoreZero" && fetched?.notes == nil,
            "fields read back"
        )
    }

    static func insertIsAtomic(_ repository: any TimesheetRepository) async throws {
        let bob = user("bob")
        let carol = user("carol")
        try await expectConflict(.dailyLimitExceeded) {
            _ = try await repository.insert(
                [
                    entry(carol, "2017-05-10", hundredths: 800), entry(bob, "2017-05-10", hundredths: 1_600),
                    entry(bob, "2017-05-10", hundredths: 900),
                ],
                at: now
            )
        }
        try expect(try await all(repository, of: bob).isEmpty, "nothing of the batch is stored for bob")
        try expect(try await all(repository, of: carol).isEmpty, "nothing of the batch is stored for carol")
        let exact = try await repository.insert(
            [entry(bob, "2017-05-10", hundredths: 1_600), entry(bob, "2017-05-10", hundredths: 800)],
            at: now
        )
        try expect(exact.count == 2, "exactly 24 hours is allowed")
    }

    static func dailyLimitCountsExisting(_ repository: any TimesheetRepository) async throws {
        let dave = user("dave")
        let first = try await repository.insert([entry(dave, "2017-05-10", hundredths: 2_000)], at: now)[0]
        try await expectConflict(.dailyLimitExceeded) {
            _ = try await repository.insert([entry(dave, "2017-05-10", hundredths: 401)], at: now)
        }
        _ = try await repository.insert([entry(dave, "2017-05-11", hundredths: 2_400)], at: now)
        _ = try await repository.update(first.id, by: "tester") {
            try $0.rejected(by: "manager", reason: "no", at: now)
        }
        let after = try await repository.insert([entry(dave, "2017-05-10", hundredths: 2_400)], at: now)
        try expect(after.count == 1, "a rejected entry no longer counts towards the day")
    }

    static func unknownID(_ repository: any TimesheetRepository) async throws {
        try expect(try await repository.entry(TimesheetID(Int64.max)) == nil, "an unknown id is nil")
        let updated = try await repository.update(TimesheetID(Int64.max), by: "tester") { $0 }
        try expect(updated == nil, "updating an unknown id is nil")
        try expect(
            try await repository.delete(TimesheetID(Int64.max), by: "tester", at: now) { _ in } == false,
            "deleting an unknown id is false"
        )
    }

    static func listOrderAndPagination(_ repository: any TimesheetRepository) async throws {
        let erin = user("erin")
        let other = user("frank")
        var expected: [Timesheet] = []
        for date in ["2017-05-09", "2017-05-11", "2017-05-10", "2017-05-11", "2017-05-08"] {
            expected += try await repository.insert([entry(erin, date, hundredths: 100)], at: now)
        }
        _ = try await repository.insert([entry(other, "2017-05-12")], at: now)
        expected.sort { ($0.date, $0.id) > ($1.date, $1.id) }

        var seen: [Timesheet] = []
        var cursor: TimesheetCursor?
        repeat {
            let page = try await repository.entries(
                TimesheetQuery(userID: erin, order: .newestDayFirst, after: cursor, limit: 2)
            )
            try expect(page.count <= 2, "a page holds at most the limit")
            seen += page
            cursor = page.count == 2 ? TimesheetCursor(order: .newestDayFirst, after: page[1]) : nil
        } while cursor != nil
        try expect(
            seen.map(\.id) == expected.map(\.id),
            "pages walk newest day first, then newest id: \(seen.map(\.id)) vs \(expected.map(\.id))"
        )
        try expect(seen.allSatisfy { $0.userID == erin }, "only the user's entries")
    }

    static func listFilters(_ repository: any TimesheetRepository) async throws {
        let gina = user("gina")
        let a = try await repository.insert([entry(gina, "2017-05-01", hundredths: 100, project: "Alpha")], at: now)[0]
        let b = try await repository.insert([entry(gina, "2017-05-05", hundredths: 100, project: "Beta")], at: now)[0]
        let c = try await repository.insert([entry(gina, "2017-05-09", hundredths: 100, project: "Alpha")], at: now)[0]
        _ = try await repository.update(c.id, by: "tester") { try $0.approved(by: "manager", at: now) }

        func ids(_ query: TimesheetQuery) async throws -> [TimesheetID] {
            try await repository.entries(query).map(\.id)
        }
        try expect(
            try await ids(TimesheetQuery(userID: gina, from: day("2017-05-05"), order: .newestDayFirst, limit: 10)) == [
                c.id, b.id,
            ],
            "from is inclusive"
        )
        try expect(
            try await ids(TimesheetQuery(userID: gina, to: day("2017-05-05"), order: .newestDayFirst, limit: 10)) == [
                b.id, a.id,
            ],
            "to is inclusive"
        )
        try expect(
            try await ids(TimesheetQuery(userID: gina, project: "Alpha", order: .newestDayFirst, limit: 10)) == [
                c.id, a.id,
            ],
            "project filter"
        )
        try expect(
            try await ids(TimesheetQuery(userID: gina, status: .approved, order: .newestDayFirst, limit: 10)) == [c.id],
            "status filter"
        )
        try expect(
            try await ids(TimesheetQuery(userID: gina, project: "alpha", order: .newestDayFirst, limit: 10)).isEmpty,
            "project matches exactly"
        )
    }

    static func reviewQueueOrder(_ repository: any TimesheetRepository) async throws {
        let hank = user("hank")
        let ivy = user("ivy")
        let first = try await repository.insert([entry(hank, "2017-05-10")], at: now)[0]
        let second = try await repository.insert([entry(ivy, "2017-05-01")], at: now)[0]
        let third = try await repository.insert([entry(hank, "2017-05-03")], at: now)[0]
        _ = try await repository.update(second.id, by: "tester") { try $0.approved(by: "manager", at: now) }

        var mine: [TimesheetID] = []
        var cursor = TimesheetCursor(order: .oldestFirst, date: first.date, id: TimesheetID(first.id.rawValue - 1))
        while true {
            let page = try await repository.entries(
                TimesheetQuery(userID: nil, status: .pending, order: .oldestFirst, after: cursor, limit: 50)
            )
            try expect(page.allSatisfy { $0.status == .pending }, "only pending entries")
            try expect(zip(page, page.dropFirst()).allSatisfy { $0.id < $1.id }, "oldest first")
            mine += page.map(\.id).filter { [first.id, second.id, third.id].contains($0) }
            guard let last = page.last, page.count == 50 else { break }
            cursor = TimesheetCursor(order: .oldestFirst, after: last)
        }
        try expect(mine == [first.id, third.id], "pending entries of all users, oldest first: \(mine)")
    }

    static func updateApplies(_ repository: any TimesheetRepository) async throws {
        let jack = user("jack")
        let stored = try await repository.insert([entry(jack, "2017-05-10", hundredths: 500)], at: now)[0]
        let later = now.addingTimeInterval(60)
        let changes = TimesheetChanges(
            date: day("2017-05-12"),
            project: "Other",
            hours: Hours(hundredths: 725),
            notes: "late shift"
        )
        let updated = try await repository.update(stored.id, by: "tester") { try $0.applying(changes, at: later) }
        try expect(updated?.project == "Other" && updated?.hours == Hours(hundredths: 725), "change is applied")
        let fetched = try await repository.entry(stored.id)
        try expect(fetched?.date == day("2017-05-12") && fetched?.notes == "late shift", "change is stored")
        try expect(
            sameInstant(fetched?.updatedAt, later) && sameInstant(fetched?.createdAt, now),
            "updatedAt moves, createdAt stays"
        )
        let approved = try await repository.update(stored.id, by: "tester") { try $0.approved(by: "boss", at: later) }
        let reread = try await repository.entry(stored.id)
        try expect(
            approved?.status == .approved && reread?.reviewedBy == "boss" && sameInstant(reread?.reviewedAt, later),
            "review fields are stored"
        )
        let rejected = try await repository.insert([entry(jack, "2017-05-13", hundredths: 100)], at: now)[0]
        _ = try await repository.update(rejected.id, by: "tester") {
            try $0.rejected(by: "boss", reason: "wrong project", at: later)
        }
        let rejectedRead = try await repository.entry(rejected.id)
        try expect(
            rejectedRead?.status == .rejected && rejectedRead?.rejectionReason == "wrong project",
            "rejection reason is stored"
        )
    }

    static func updateThrowingWritesNothing(_ repository: any TimesheetRepository) async throws {
        let kim = user("kim")
        let stored = try await repository.insert([entry(kim, "2017-05-10")], at: now)[0]
        do {
            _ = try await repository.update(stored.id, by: "tester") { current -> Timesheet in
                _ = current
                throw TimesheetError.notFound(stored.id)
            }
            try expect(false, "the change's error is rethrown")
        } catch let error as TimesheetError {
            try expect(error == .notFound(stored.id), "the change's error comes back unchanged: \(error)")
        }
        try expect(try await repository.entry(stored.id) == stored, "nothing was written")
    }

    static func updateUnchangedWritesNothing(_ repository: any TimesheetRepository) async throws {
        let lea = user("lea")
        let stored = try await repository.insert([entry(lea, "2017-05-10")], at: now)[0]
        let same = try await repository.update(stored.id, by: "tester") { $0 }
        try expect(same.map { sameInstant($0.updatedAt, now) } == true, "an unchanged entry comes back as it was")
        let fetched = try await repository.entry(stored.id)
        try expect(sameInstant(fetched?.updatedAt, now), "and was not written")
    }

    static func updateChecksDailyLimit(_ repository: any TimesheetRepository) async throws {
        let max = user("max")
        let big = try await repository.insert([entry(max, "2017-05-10", hundredths: 2_000)], at: now)[0]
        let small = try await repository.insert([entry(max, "2017-05-11", hundredths: 500)], at: now)[0]
        try await expectConflict(.dailyLimitExceeded) {
            _ = try await repository.update(small.id, by: "tester") {
                try $0.applying(TimesheetChanges(date: day("2017-05-10")), at: now)
            }
        }
        try expect(try await repository.entry(small.id)?.date == day("2017-05-11"), "the refused move wrote nothing")
        let grown = try await repository.update(big.id, by: "tester") {
            try $0.applying(TimesheetChanges(hours: Hours(hundredths: 2_400)), at: now)
        }
        try expect(grown?.hours == Hours(hundredths: 2_400), "an entry is not counted twice against its own day")
    }

    static func deleteRemoves(_ repository: any TimesheetRepository) async throws {
        let ned = user("ned")
        let stored = try await repository.insert([entry(ned, "2017-05-10")], at: now)[0]
        try expect(
            try await repository.delete(stored.id, by: "tester", at: now) { try $0.checkDeletable() },
            "delete reports success"
        )
        try expect(try await repository.entry(stored.id) == nil, "the entry is gone")
        let next = try await repository.insert([entry(ned, "2017-05-10")], at: now)[0]
        try expect(next.id > stored.id, "a deleted id is not reused")
    }

    static func deleteCheckKeeps(_ repository: any TimesheetRepository) async throws {
        let olga = user("olga")
        let stored = try await repository.insert([entry(olga, "2017-05-10")], at: now)[0]
        _ = try await repository.update(stored.id, by: "tester") { try $0.approved(by: "boss", at: now) }
        try await expectConflict(.notPending) {
            _ = try await repository.delete(stored.id, by: "tester", at: now) { try $0.checkDeletable() }
        }
        try expect(try await repository.entry(stored.id) != nil, "the approved entry is kept")
    }

    static func dailyTotals(_ repository: any TimesheetRepository) async throws {
        let pia = user("pia")
        _ = try await repository.insert(
            [
                entry(pia, "2017-05-10", hundredths: 150, project: "A"),
                entry(pia, "2017-05-10", hundredths: 275, project: "A"),
                entry(pia, "2017-05-10", hundredths: 100, project: "B"),
                entry(pia, "2017-05-20", hundredths: 100, project: "A"),
                entry(user("quinn"), "2017-05-10", hundredths: 100, project: "A"),
            ],
            at: now
        )
        let rejected = try await repository.insert([entry(pia, "2017-05-11", hundredths: 300, project: "A")], at: now)[
            0
        ]
        _ = try await repository.update(rejected.id, by: "tester") { try $0.rejected(by: "boss", reason: nil, at: now) }
        let totals = try await repository.dailyTotals(userID: pia, from: day("2017-05-01"), to: day("2017-05-15"))
        let expected = [
            DailyProjectHours(date: day("2017-05-10"), project: "A", hours: Hours(hundredths: 425)),
            DailyProjectHours(date: day("2017-05-10"), project: "B", hours: Hours(hundredths: 100)),
        ]
        try expect(Set(totals) == Set(expected), "totals per day and project: \(totals)")
    }

    static func textVerbatim(_ repository: any TimesheetRepository) async throws {
        let quote = user("o'brien\"; DROP TABLE timesheets; --")
        let project = "<script>alert('x')</script> ' OR 1=1 -- Ünïcødé 🚀"
        var new = entry(quote, "2017-05-10", project: project)
        new.notes = "line one\nline two\t\\ %s %d $1"
        let stored = try await repository.insert([new], at: now)[0]
        let fetched = try await repository.entry(stored.id)
        try expect(
            fetched?.userID == quote && fetched?.project == project && fetched?.notes == new.notes,
            "text round-trips exactly"
        )
        try expect(try await all(repository, of: quote).count == 1, "a user id with quotes filters exactly")
    }

    static func parallelInsertsRespectLimit(_ repository: any TimesheetRepository) async throws {
        let rita = user("rita")
        // 20 requests of 5 hours each: at most 4 fit in 24 hours.
        // Each request is stored or refused by the daily limit; anything else (a timeout, a driver error) is a failure.
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await repository.insert([entry(rita, "2017-05-10", hundredths: 500)], at: now)
                        return "stored"
                    } catch TimesheetError.conflict(let conflict) where conflict.code == .dailyLimitExceeded {
                        return "refused"
                    } catch {
                        return "failed: \(error)"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        let failures = outcomes.filter { $0.hasPrefix("failed") }
        try expect(failures.isEmpty, "only the daily limit may refuse: \(failures)")
        try expect(outcomes.filter { $0 == "stored" }.count == 4, "exactly four 5-hour entries fit: \(outcomes)")
        let stored = try await all(repository, of: rita)
        try expect(stored.reduce(0) { $0 + $1.hours.hundredths } == 2_000, "20 hours stored")
    }

    static func parallelApprovals(_ repository: any TimesheetRepository) async throws {
        let sam = user("sam")
        let stored = try await repository.insert([entry(sam, "2017-05-10")], at: now)[0]
        let results = try await withThrowingTaskGroup(of: Timesheet?.self) { group in
            for index in 0..<20 {
                group.addTask {
                    let at = now.addingTimeInterval(Double(index + 1))
                    return try await repository.update(stored.id, by: "tester") {
                        try $0.approved(by: "manager-\(index)", at: at)
                    }
                }
            }
            return try await group.reduce(into: [Timesheet]()) { if let entry = $1 { $0.append(entry) } }
        }
        let fetched = try await repository.entry(stored.id)
        try expect(fetched?.status == .approved, "the entry is approved")
        try expect(
            results.allSatisfy {
                $0.reviewedBy == fetched?.reviewedBy && sameInstant($0.reviewedAt, fetched?.reviewedAt)
            },
            "every approval returns the one stored review"
        )
    }

    static func editRacingApproval(_ repository: any TimesheetRepository) async throws {
        let tom = user("tom")
        for _ in 0..<10 {
            let stored = try await repository.insert([entry(tom, "2017-05-10", hundredths: 100)], at: now)[0]
            // `try?` flattens `Timesheet?`: nil means the edit was refused (the entry exists).
            async let edit: Timesheet? = try? repository.update(stored.id, by: "tester") {
                try $0.applying(TimesheetChanges(hours: Hours(hundredths: 200)), at: now)
            }
            async let approval: Timesheet? = try? repository.update(stored.id, by: "tester") {
                try $0.approved(by: "boss", at: now)
            }
            let (edited, approved) = await (edit, approval)
            let final = try await repository.entry(stored.id)
            try expect(approved?.status == .approved && final?.status == .approved, "the approval always succeeds")
            if edited == nil {
                try expect(final?.hours == Hours(hundredths: 100), "a refused edit wrote nothing")
            } else {
                try expect(
                    final?.hours == Hours(hundredths: 200),
                    "an edit that succeeded happened before the approval"
                )
            }
        }
    }

    // MARK: History and idempotency

    static func createdByIsStored(_ repository: any TimesheetRepository) async throws {
        let uma = user("uma")
        var uploaded = entry(uma, "2017-05-10")
        uploaded.createdBy = "batch-client@clients"
        let stored = try await repository.insert([uploaded, entry(uma, "2017-05-11")], at: now)
        try expect(stored.map(\.createdBy) == ["batch-client@clients", uma], "created_by comes back: \(stored)")
        let fetched = try await all(repository, of: uma).sorted { $0.id < $1.id }
        try expect(fetched.map(\.createdBy) == ["batch-client@clients", uma], "created_by reads back: \(fetched)")
        let history = try await repository.history(of: stored[0].id)
        try expect(
            history.map(\.action) == [.created] && history.first?.actor == "batch-client@clients"
                && history.first?.ownerID == uma && sameInstant(history.first?.at, now),
            "the creation is an event by its creator: \(history)"
        )
    }

    static func historyRecordsEveryChange(_ repository: any TimesheetRepository) async throws {
        let vic = user("vic")
        let first = try await repository.insert([entry(vic, "2017-05-10", hundredths: 500)], at: now)[0]
        let edited = now.addingTimeInterval(60)
        _ = try await repository.update(first.id, by: vic) {
            try $0.applying(TimesheetChanges(hours: Hours(hundredths: 650), notes: .some("late")), at: edited)
        }
        let approvedAt = now.addingTimeInterval(120)
        _ = try await repository.update(first.id, by: "boss") { try $0.approved(by: "boss", at: approvedAt) }
        let history = try await repository.history(of: first.id)
        try expect(history.map(\.action) == [.created, .updated, .approved], "oldest first: \(history.map(\.action))")
        try expect(history.map(\.actor) == [vic, vic, "boss"], "actors: \(history.map(\.actor))")
        try expect(
            sameInstant(history[1].at, edited) && sameInstant(history[2].at, approvedAt),
            "times: \(history.map(\.at))"
        )
        try expect(
            history[1].before
                == EditableFields(
                    date: day("2017-05-10"),
                    project: "StoreZero",
                    hours: Hours(hundredths: 500),
                    notes: nil
                )
                && history[1].after
                    == EditableFields(
                        date: day("2017-05-10"),
                        project: "StoreZero",
                        hours: Hours(hundredths: 650),
                        notes: "late"
                    ),
            "an edit holds the fields before and after: \(history[1])"
        )

        let second = try await repository.insert([entry(vic, "2017-05-11", hundredths: 100)], at: now)[0]
        _ = try await repository.update(second.id, by: "boss") {
            try $0.rejected(by: "boss", reason: "wrong project", at: approvedAt)
        }
        let rejected = try await repository.history(of: second.id)
        try expect(
            rejected.map(\.action) == [.created, .rejected] && rejected.last?.reason == "wrong project"
                && rejected.last?.actor == "boss",
            "a rejection holds its reason: \(rejected)"
        )

        let third = try await repository.insert([entry(vic, "2017-05-12", hundredths: 100)], at: now)[0]
        let deletedAt = now.addingTimeInterval(180)
        _ = try await repository.delete(third.id, by: vic, at: deletedAt) { try $0.checkDeletable() }
        let deleted = try await repository.history(of: third.id)
        try expect(
            deleted.map(\.action) == [.created, .deleted] && deleted.last?.actor == vic
                && sameInstant(deleted.last?.at, deletedAt) && deleted.allSatisfy { $0.ownerID == vic },
            "a deleted entry keeps its history, ending with the deletion: \(deleted)"
        )
    }

    static func historyIgnoresRefusedChanges(_ repository: any TimesheetRepository) async throws {
        let wes = user("wes")
        let stored = try await repository.insert([entry(wes, "2017-05-10", hundredths: 2_000)], at: now)[0]
        _ = try await repository.update(stored.id, by: wes) { $0 }
        _ = try? await repository.update(stored.id, by: wes) { _ in throw TimesheetError.notFound(stored.id) }
        _ = try? await repository.update(stored.id, by: wes) {
            try $0.applying(TimesheetChanges(hours: Hours(hundredths: 2_401)), at: now)
        }
        _ = try await repository.update(stored.id, by: "boss") { try $0.approved(by: "boss", at: now) }
        _ = try await repository.update(stored.id, by: "boss") { try $0.approved(by: "boss", at: now) }
        _ = try? await repository.delete(stored.id, by: wes, at: now) { try $0.checkDeletable() }
        let refused = try? await repository.insert(
            [entry(wes, "2017-05-10", hundredths: 500)],
            at: now
        )
        try expect(refused == nil, "the day is full")
        let history = try await repository.history(of: stored.id)
        try expect(history.map(\.action) == [.created, .approved], "only written changes: \(history.map(\.action))")
    }

    static func historyOfUnknownID(_ repository: any TimesheetRepository) async throws {
        try expect(try await repository.history(of: TimesheetID(Int64.max)).isEmpty, "no events")
    }

    static func idempotent(
        _ scope: String,
        _ key: String,
        operation: String = "create",
        digest: [UInt8] = [1, 2, 3],
        lifetime: TimeInterval = IdempotentRequest.defaultLifetime
    ) -> IdempotentRequest {
        IdempotentRequest(scope: scope, key: key, operation: operation, digest: digest, lifetime: lifetime) { stored in
            RecordedAnswer(status: 201, location: "/x/\(stored[0].id)", body: Array("\(stored.map(\.id))".utf8))
        }
    }

    static func idempotentReplay(_ repository: any TimesheetRepository) async throws {
        let xia = user("xia")
        let request = idempotent(xia, "key-1")
        let first = try await repository.insert(
            [entry(xia, "2017-05-10", hundredths: 100)],
            at: now,
            idempotent: request
        )
        guard case .written(let stored, let answer) = first else {
            throw Failure(description: "RepositoryContract.swift: the first request writes: \(first)")
        }
        try expect(answer.status == 201 && answer.location == "/x/\(stored[0].id)", "the answer is recorded: \(answer)")
        for _ in 0..<3 {
            let again = try await repository.insert(
                [entry(xia, "2017-05-10", hundredths: 100)],
                at: now.addingTimeInterval(60),
                idempotent: request
            )
            try expect(again == .replayed(answer), "a repeat gets the first answer: \(again)")
        }
        try expect(try await all(repository, of: xia).count == 1, "one entry stored")
        try expect(try await repository.history(of: stored[0].id).count == 1, "one creation recorded")
    }

    static func idempotentKeyReuse(_ repository: any TimesheetRepository) async throws {
        let yan = user("yan")
        _ = try await repository.insert(
            [entry(yan, "2017-05-10", hundredths: 100)],
            at: now,
            idempotent: idempotent(yan, "k")
        )
        for other in [idempotent(yan, "k", digest: [9]), idempotent(yan, "k", operation: "upload")] {
            do {
                _ = try await repository.insert([entry(yan, "2017-05-11")], at: now, idempotent: other)
                throw Failure(description: "RepositoryContract.swift: a reused key was accepted")
            } catch let error as TimesheetError {
                try expect(error == .idempotencyKeyReused(key: "k"), "refused as a reuse: \(error)")
            }
        }
        try expect(try await all(repository, of: yan).count == 1, "the refused requests stored nothing")
    }

    static func idempotentKeysScopedAndExpiring(_ repository: any TimesheetRepository) async throws {
        let zoe = user("zoe")
        let ada = user("ada")
        let short = idempotent(zoe, "shared", lifetime: 60)
        _ = try await repository.insert([entry(zoe, "2017-05-10", hundredths: 100)], at: now, idempotent: short)
        let other = try await repository.insert(
            [entry(ada, "2017-05-10", hundredths: 100)],
            at: now,
            idempotent: idempotent(ada, "shared")
        )
        guard case .written = other else {
            throw Failure(description: "RepositoryContract.swift: another caller's equal key is another key: \(other)")
        }
        let later = try await repository.insert(
            [entry(zoe, "2017-05-10", hundredths: 100)],
            at: now.addingTimeInterval(61),
            idempotent: idempotent(zoe, "shared", digest: [7])
        )
        guard case .written = later else {
            throw Failure(description: "RepositoryContract.swift: an expired key is unused again: \(later)")
        }
        try expect(try await all(repository, of: zoe).count == 2, "the expired key's request ran again")
    }

    static func idempotentRefusalKeepsKeyFree(_ repository: any TimesheetRepository) async throws {
        let bea = user("bea")
        _ = try await repository.insert([entry(bea, "2017-05-10", hundredths: 2_000)], at: now)
        try await expectConflict(.dailyLimitExceeded) {
            _ = try await repository.insert(
                [entry(bea, "2017-05-10", hundredths: 500)],
                at: now,
                idempotent: idempotent(bea, "retry-me")
            )
        }
        let failing = IdempotentRequest(scope: bea, key: "answer-fails", operation: "create", digest: []) { _ in
            throw TimesheetError.notFound(TimesheetID(1))
        }
        do {
            _ = try await repository.insert([entry(bea, "2017-05-11", hundredths: 100)], at: now, idempotent: failing)
            throw Failure(description: "RepositoryContract.swift: an answer that throws fails the write")
        } catch let error as TimesheetError {
            try expect(error == .notFound(TimesheetID(1)), "the answer's error comes back: \(error)")
        }
        try expect(try await all(repository, of: bea).count == 1, "nothing refused was stored")
        let retried = try await repository.insert(
            [entry(bea, "2017-05-10", hundredths: 400)],
            at: now,
            idempotent: idempotent(bea, "retry-me", digest: [4])
        )
        guard case .written = retried else {
            throw Failure(description: "RepositoryContract.swift: a refused request recorded its key: \(retried)")
        }
    }

    static func idempotentParallel(_ repository: any TimesheetRepository) async throws {
        let cid = user("cid")
        let request = idempotent(cid, "once")
        let outcomes = try await withThrowingTaskGroup(of: IdempotentOutcome.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await repository.insert(
                        [entry(cid, "2017-05-10", hundredths: 100)],
                        at: now,
                        idempotent: request
                    )
                }
            }
            return try await group.reduce(into: [IdempotentOutcome]()) { $0.append($1) }
        }
        let written = outcomes.filter { if case .written = $0 { true } else { false } }
        try expect(written.count == 1, "one request writes: \(outcomes)")
        try expect(Set(outcomes.map(\.answer)).count == 1, "every request gets the one answer")
        try expect(try await all(repository, of: cid).count == 1, "one entry stored")
    }
}
