import Foundation
import Synchronization
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@Suite struct TimesheetServiceTests {
    let repository = InMemoryTimesheetRepository()
    let clock = Date(timeIntervalSince1970: 1_700_000_000)
    var service: TimesheetService<InMemoryTimesheetRepository> {
        let now = clock
        return TimesheetService(repository: repository, now: { now })
    }

    let employee = Caller(userID: "employee@exampleco.com", permissions: [.read, .create, .update, .delete])
    let contractor = Caller(userID: "contractor@exampleco.com", permissions: [.read, .create, .update, .delete])
    let manager = Caller(userID: "manager@exampleco.com", permissions: [.read, .create, .update, .delete, .approve])
    let machine = Caller(userID: "batch@clients", permissions: [.batchUpload])

    func input(
        _ date: String = "2017-05-10",
        project: String = "StoreZero",
        hours: String = "5",
        userID: String? = nil
    )
        -> TimesheetInput
    {
        TimesheetInput(
            userID: userID.map(InputValue.string),
            date: .string(date),
            project: .string(project),
            hours: .number(hours)
        )
    }

    func expectError(_ expected: TimesheetError, _ body: () async throws -> Void) async {
        await #expect(throws: expected) { try await body() }
    }

    func conflictCode(_ body: () async throws -> Void) async -> Conflict.Code? {
        do {
            try await body()
        } catch let TimesheetError.conflict(conflict) {
            return conflict.code
        } catch {}
        return nil
    }

    @Test func createOwnsTheEntryAndNeedsCreate() async throws {
        let entry = try await service.create(input(), by: employee)
        #expect(entry.userID == employee.userID)
        #expect(entry.status == .pending && !entry.isApproved)
        #expect(entry.createdAt == clock)
        await expectError(.forbidden(missing: .create)) {
            _ = try await service.create(input(), by: Caller(userID: "x", permissions: [.read]))
        }
        #expect(await repository.count == 1)
    }

    @Test func invalidInputChangesNothing() async throws {
        await #expect(throws: TimesheetError.self) { _ = try await service.create(input(hours: "25"), by: employee) }
        #expect(await repository.count == 0)
    }

    @Test func ownersSeeOnlyTheirOwnEntries() async throws {
        let mine = try await service.create(input(), by: employee)
        #expect(try await service.entry(mine.id, for: employee) == mine)
        await expectError(.notFound(mine.id)) { _ = try await service.entry(mine.id, for: contractor) }
        let theirs = try await service.list(TimesheetFilter(), page: PageRequest(), for: contractor)
        #expect(theirs.items.isEmpty)
        await expectError(.notFound(mine.id)) {
            _ = try await service.update(mine.id, with: input(hours: "1"), replacing: true, by: contractor)
        }
        await expectError(.notFound(mine.id)) { try await service.delete(mine.id, by: contractor) }
        #expect(try await service.entry(mine.id, for: employee) == mine)
        await expectError(.forbidden(missing: .read)) { _ = try await service.entry(mine.id, for: machine) }
    }

    @Test func onlyPendingEntriesChange() async throws {
        let entry = try await service.create(input(), by: employee)
        let edited = try await service.update(
            entry.id,
            with: TimesheetInput(hours: .string("6")),
            replacing: false,
            by: employee
        )
        #expect(edited.hours == Hours(hundredths: 600) && edited.project == "StoreZero")
        _ = try await service.approve(entry.id, by: manager)
        #expect(
            await conflictCode {
                _ = try await service.update(
                    entry.id,
                    with: TimesheetInput(hours: .string("7")),
                    replacing: false,
                    by: employee
                )
            } == .notPending
        )
        #expect(await conflictCode { try await service.delete(entry.id, by: employee) } == .notPending)
        #expect(try await service.entry(entry.id, for: employee).hours == Hours(hundredths: 600))
    }

    @Test func putReplacesAndClearsNotes() async throws {
        var withNotes = input()
        withNotes.notes.value = .string("remember")
        let entry = try await service.create(withNotes, by: employee)
        let replaced = try await service.update(
            entry.id,
            with: input("2017-05-11", project: "Other", hours: "2"),
            replacing: true,
            by: employee
        )
        #expect(replaced.notes == nil && replaced.project == "Other" && replaced.date.description == "2017-05-11")
    }

    @Test func deleteNeedsDeleteAndRemoves() async throws {
        let entry = try await service.create(input(), by: employee)
        await expectError(.forbidden(missing: .delete)) {
            try await service.delete(entry.id, by: Caller(userID: employee.userID, permissions: [.read]))
        }
        try await service.delete(entry.id, by: employee)
        await expectError(.notFound(entry.id)) { _ = try await service.entry(entry.id, for: employee) }
        await expectError(.notFound(entry.id)) { try await service.delete(entry.id, by: employee) }
    }

    @Test func approvalIsIdempotentAndRejectingAnApprovedEntryConflicts() async throws {
        let entry = try await service.create(input(), by: employee)
        await expectError(.forbidden(missing: .approve)) { _ = try await service.approve(entry.id, by: employee) }
        let approved = try await service.approve(entry.id, by: manager)
        #expect(approved.status == .approved && approved.reviewedBy == manager.userID && approved.reviewedAt == clock)
        let later = TimesheetService(repository: repository, now: { Date(timeIntervalSince1970: 1_800_000_000) })
        let again = try await later.approve(entry.id, by: Caller(userID: "other-manager", permissions: [.approve]))
        #expect(again == approved)
        #expect(await conflictCode { _ = try await service.reject(entry.id, reason: nil, by: manager) } == .notPending)
        await expectError(.notFound(TimesheetID(999))) { _ = try await service.approve(TimesheetID(999), by: manager) }
    }

    @Test func nobodyReviewsTheirOwnEntries() async throws {
        let own = try await service.create(input(), by: manager)
        #expect(await conflictCode { _ = try await service.approve(own.id, by: manager) } == .selfReview)
        #expect(await conflictCode { _ = try await service.reject(own.id, reason: nil, by: manager) } == .selfReview)
        #expect(try await service.entry(own.id, for: manager).status == .pending)
    }

    @Test func rejectionKeepsTheReasonAndBlocksApproval() async throws {
        let entry = try await service.create(input(), by: employee)
        let rejected = try await service.reject(entry.id, reason: "Wrong project", by: manager)
        #expect(rejected.status == .rejected && rejected.rejectionReason == "Wrong project")
        #expect(try await service.reject(entry.id, reason: "again", by: manager) == rejected)
        #expect(await conflictCode { _ = try await service.approve(entry.id, by: manager) } == .notPending)
    }

    @Test func theDailyCapIsAConflict() async throws {
        _ = try await service.create(input(hours: "20"), by: employee)
        #expect(
            await conflictCode { _ = try await service.create(input(hours: "4.01"), by: employee) }
                == .dailyLimitExceeded
        )
        _ = try await service.create(input(hours: "4"), by: employee)
        _ = try await service.create(input(hours: "24"), by: contractor)
        _ = try await service.create(input("2017-05-11", hours: "24"), by: employee)
        #expect(await repository.count == 4)
    }

    @Test func batchIsAllOrNothingAndReportsEveryBadItem() async throws {
        let items = [
            input(userID: "007"), input(hours: "30", userID: "008"), input(project: " "), input(userID: "009"),
        ]
        do {
            _ = try await service.createBatch(items, by: machine)
            Issue.record("expected a validation failure")
        } catch TimesheetError.validationFailed(let errors) {
            // Named as the fields arrived (here the domain's property names; over HTTP, `[2].user_id`).
            #expect(errors.map(\.field) == ["[1].hours", "[2].userID", "[2].project"])
        }
        #expect(await repository.count == 0)
        let stored = try await service.createBatch([input(userID: "007"), input(userID: "008")], by: machine)
        #expect(stored.map(\.userID) == ["007", "008"])
        await expectError(.forbidden(missing: .batchUpload)) { _ = try await service.createBatch(items, by: manager) }
        #expect(
            await conflictCode {
                _ = try await service.createBatch(
                    [input(hours: "20", userID: "x"), input(hours: "5", userID: "x")],
                    by: machine
                )
            } == .dailyLimitExceeded
        )
        #expect(await repository.count == 2)
        await #expect(throws: TimesheetError.self) { _ = try await service.createBatch([], by: machine) }
    }

    @Test func aBatchRefusedByTheDailyCapDoesNotTellAnotherUsersRecordedHours() async throws {
        _ = try await service.create(input(hours: "19.75"), by: employee)
        do {
            _ = try await service.createBatch([input(hours: "5", userID: employee.userID)], by: machine)
            Issue.record("expected the daily cap to refuse the batch")
        } catch TimesheetError.conflict(let conflict) {
            #expect(conflict.code == .dailyLimitExceeded)
            #expect(!conflict.message.contains("19.75"), "the employee's recorded hours leaked: \(conflict.message)")
            #expect(
                conflict.message.contains(employee.userID) && conflict.message.contains("2017-05-10"),
                "\(conflict.message)"
            )
        }
        // A batch that alone exceeds the cap says so, whatever is recorded.
        do {
            _ = try await service.createBatch(
                [input(hours: "20", userID: "x"), input(hours: "5", userID: "x")],
                by: machine
            )
            Issue.record("expected the daily cap to refuse the batch")
        } catch TimesheetError.conflict(let conflict) {
            #expect(conflict.message.contains("25"), "\(conflict.message)")
        }
        // The caller's own day may still show its own total.
        let uploader = Caller(userID: "uploader@clients", permissions: [.create, .batchUpload])
        _ = try await service.create(input(hours: "19.75"), by: uploader)
        do {
            _ = try await service.createBatch([input(hours: "5", userID: uploader.userID)], by: uploader)
            Issue.record("expected the daily cap to refuse the batch")
        } catch TimesheetError.conflict(let conflict) {
            #expect(conflict.message.contains("19.75"), "\(conflict.message)")
        }
        #expect(await repository.count == 2)
    }

    @Test func oversizedBatchesAreRefused() async {
        let items = Array(repeating: input(userID: "x"), count: TimesheetRules.maxBatchSize + 1)
        await #expect(throws: TimesheetError.self) { _ = try await service.createBatch(items, by: machine) }
    }

    @Test func listPaginatesWithOpaqueCursors() async throws {
        for day in 1...7 { _ = try await service.create(input("2017-05-0\(day)", hours: "1"), by: employee) }
        let first = try await service.list(TimesheetFilter(), page: PageRequest(limit: 3), for: employee)
        #expect(first.items.map(\.date.day) == [7, 6, 5])
        let cursor = try #require(first.nextCursor)
        let second = try await service.list(
            TimesheetFilter(),
            page: PageRequest(limit: 3, cursor: cursor),
            for: employee
        )
        #expect(second.items.map(\.date.day) == [4, 3, 2])
        let third = try await service.list(
            TimesheetFilter(),
            page: PageRequest(limit: 3, cursor: second.nextCursor),
            for: employee
        )
        #expect(third.items.map(\.date.day) == [1])
        #expect(third.nextCursor == nil)
        // The contractor gets nothing with the employee's cursor: lists are always scoped to the caller.
        let foreign = try await service.list(
            TimesheetFilter(),
            page: PageRequest(limit: 3, cursor: cursor),
            for: contractor
        )
        #expect(foreign.items.isEmpty)
    }

    @Test func reviewQueueIsOldestFirstAcrossUsers() async throws {
        let a = try await service.create(input("2017-05-09"), by: employee)
        let b = try await service.create(input("2017-05-01"), by: contractor)
        let c = try await service.create(input("2017-05-05"), by: employee)
        _ = try await service.approve(b.id, by: manager)
        let page = try await service.pendingReview(page: PageRequest(limit: 1), for: manager)
        #expect(page.items.map(\.id) == [a.id])
        let next = try await service.pendingReview(
            page: PageRequest(limit: 5, cursor: page.nextCursor),
            for: manager
        )
        #expect(next.items.map(\.id) == [c.id])
        await expectError(.forbidden(missing: .approve)) {
            _ = try await service.pendingReview(page: PageRequest(), for: employee)
        }
    }

    @Test func weeklySummaryGroupsByISOWeekAndProject() async throws {
        _ = try await service.create(input("2017-05-08", project: "A", hours: "2"), by: employee)
        _ = try await service.create(input("2017-05-14", project: "A", hours: "3.5"), by: employee)
        _ = try await service.create(input("2017-05-10", project: "B", hours: "1"), by: employee)
        _ = try await service.create(input("2017-05-15", project: "A", hours: "4"), by: employee)
        _ = try await service.create(input("2017-05-15", project: "A", hours: "9"), by: contractor)
        let range = try SummaryRange.validate(
            from: InputField("from", .string("2017-05-01")),
            to: InputField("to", .string("2017-05-31")),
            today: CalendarDay(year: 2017, month: 6, day: 1)!
        ).get()
        let summary = try await service.weeklySummary(range, for: employee)
        #expect(
            summary.map { "\($0.weekLabel) \($0.project) \($0.hours)" } == [
                "2017-W19 A 5.5", "2017-W19 B 1", "2017-W20 A 4",
            ]
        )
        #expect(summary[0].weekStart.description == "2017-05-08")
    }

    /// Found by the hardening suite's parallel reviews and edits: an edit that waited behind a review was stamped
    /// with the time its request arrived, so the entry read `updated_at` later than `reviewed_at`. Changes are
    /// stamped when the repository runs them, while it holds the entry.
    @Test func changesAreStampedWhenTheEntryIsHeldNotWhenTheRequestArrived() async throws {
        let clock = SteppingClock(start: Date(timeIntervalSince1970: 1_700_000_000))
        let waiting = WaitingRepository(base: repository) { clock.advance(seconds: 60) }
        let service = TimesheetService(repository: waiting, now: { clock.now })
        let entry = try await service.create(input(), by: employee)
        #expect(entry.updatedAt == Date(timeIntervalSince1970: 1_700_000_000))

        let edited = try await service.update(
            entry.id,
            with: TimesheetInput(hours: .number("6")),
            replacing: false,
            by: employee
        )
        #expect(edited.updatedAt == Date(timeIntervalSince1970: 1_700_000_060))
        let approved = try await service.approve(entry.id, by: manager)
        #expect(approved.reviewedAt == Date(timeIntervalSince1970: 1_700_000_120))
        #expect(approved.updatedAt <= approved.reviewedAt!)

        let other = try await service.create(input("2017-05-11"), by: employee)
        let rejected = try await service.reject(other.id, reason: "no", by: manager)
        #expect(rejected.reviewedAt == Date(timeIntervalSince1970: 1_700_000_180))
    }
}

/// A clock the test moves forward by hand.
final class SteppingClock: Sendable {
    private let current: Mutex<Date>
    init(start: Date) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

/// Forwards to another repository, running `waitForEntry` before each change as if it waited for a row lock.
struct WaitingRepository<Base: TimesheetRepository>: TimesheetRepository {
    let base: Base
    let waitForEntry: @Sendable () -> Void

    func insert(_ entries: [NewTimesheet], at now: Date) async throws -> [Timesheet] {
        try await base.insert(entries, at: now)
    }
    func insert(
        _ entries: [NewTimesheet],
        at now: Date,
        idempotent request: IdempotentRequest
    ) async throws -> IdempotentOutcome {
        try await base.insert(entries, at: now, idempotent: request)
    }
    func entry(_ id: TimesheetID) async throws -> Timesheet? { try await base.entry(id) }
    func entries(_ query: TimesheetQuery) async throws -> [Timesheet] { try await base.entries(query) }
    func update(
        _ id: TimesheetID,
        by actor: String,
        _ change: @escaping @Sendable (Timesheet) throws -> Timesheet
    ) async throws -> Timesheet? {
        waitForEntry()
        return try await base.update(id, by: actor, change)
    }
    func delete(
        _ id: TimesheetID,
        by actor: String,
        at now: Date,
        _ check: @escaping @Sendable (Timesheet) throws -> Void
    ) async throws -> Bool {
        try await base.delete(id, by: actor, at: now, check)
    }
    func history(of id: TimesheetID) async throws -> [TimesheetEvent] { try await base.history(of: id) }
    func dailyTotals(userID: String, from: CalendarDay, to: CalendarDay) async throws -> [DailyProjectHours] {
        try await base.dailyTotals(userID: userID, from: from, to: to)
    }
    func hoursReport(_ request: HoursReportRequest) async throws -> HoursReportRows {
        try await base.hoursReport(request)
    }
}

@Suite struct ListRequestTests {
    func field(_ name: String, _ text: String?) -> InputField { InputField(name, text.map(InputValue.string)) }

    @Test func limitsAreValidated() throws {
        #expect(try PageRequest.validate(limit: field("limit", nil)).get().limit == 50)
        #expect(try PageRequest.validate(limit: field("limit", "500")).get().limit == 500)
        #expect(try PageRequest.validate(limit: InputField("limit", .number("7"))).get().limit == 7)
        let position = TimesheetCursor(
            order: .oldestFirst,
            date: CalendarDay(year: 2017, month: 5, day: 10)!,
            id: TimesheetID(42)
        )
        #expect(
            try PageRequest.validate(limit: field("limit", "5"), after: position).get()
                == PageRequest(limit: 5, cursor: position)
        )
        for bad in ["0", "501", "-1", "ten", "1.5", "99999999999999999999"] {
            guard case .failure(.validationFailed(let errors)) = PageRequest.validate(limit: field("size", bad)) else {
                Issue.record("limit \(bad) accepted")
                continue
            }
            #expect(errors.map(\.code) == [.outOfRange])
            #expect(errors.map(\.field) == ["size"], "named as the caller named it")
        }
    }

    @Test func filtersAreValidatedTogether() throws {
        guard
            case .failure(.validationFailed(let errors)) = TimesheetFilter.validate(
                from: field("from", "2017-13-01"),
                to: field("to", "nope"),
                project: field("project", ""),
                status: field("status", "done")
            )
        else {
            Issue.record("accepted")
            return
        }
        #expect(errors.map(\.field) == ["from", "to", "project", "status"])
        guard
            case .failure(.validationFailed(let order)) = TimesheetFilter.validate(
                from: field("since", "2017-05-10"),
                to: field("until", "2017-05-01"),
                project: field("project", nil),
                status: field("status", nil)
            )
        else {
            Issue.record("accepted a reversed range")
            return
        }
        #expect(order.map(\.code) == [.outOfRange])
        #expect(order.map(\.message) == ["until must not be before since."])
        let ok = try TimesheetFilter.validate(
            from: field("from", "2017-05-01"),
            to: field("to", "2017-05-10"),
            project: field("project", "P"),
            status: field("status", "approved")
        ).get()
        #expect(ok.status == .approved && ok.project == "P")
    }

    @Test func summaryRangeDefaultsAndBounds() throws {
        let today = CalendarDay(year: 2017, month: 5, day: 10)!
        let range = try SummaryRange.validate(from: field("from", nil), to: field("to", nil), today: today).get()
        #expect(range.to == today && range.from.description == "2017-02-20" && range.from.isoWeekday == 1)
        #expect(throws: TimesheetError.self) {
            try SummaryRange.validate(from: field("from", "2016-01-01"), to: field("to", "2017-05-10"), today: today)
                .get()
        }
    }

    @Test func idsParseStrictly() {
        #expect(TimesheetID("42")?.rawValue == 42)
        #expect(TimesheetID("9223372036854775807")?.rawValue == Int64.max)
        for bad in ["0", "-1", "+1", "9223372036854775808", "99999999999999999999", "1e3", "..%2F", "", " 1", "0x1"] {
            #expect(TimesheetID(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct InMemoryRepositoryContract {
    @Test(arguments: RepositoryContract.checks)
    func contract(_ check: RepositoryContract.Check) async throws {
        try await check.run(InMemoryTimesheetRepository())
    }
}

@Suite struct DomainPurityTests {
    /// The domain stays pure: Foundation and the standard library only.
    @Test func domainImportsOnlyFoundation() throws {
        let sources = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/TimesheetDomain")
        let files = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").filter {
                    !$0.hasPrefix("@") && !["public", "internal", "package", "private"].contains($0)
                }
                guard words.first == "import", words.count >= 2 else { continue }
                #expect(
                    ["Foundation", "FoundationEssentials"].contains(String(words[1])),
                    "\(file) imports \(words[1])"
                )
            }
            // Wire formats are the API's: no JSON decoding and no snake_case field names here.
            let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
            #expect(!code.contains { $0.contains("Decodable") || $0.contains("Codable") }, "\(file) decodes")
            #expect(!code.contains { $0.contains("\"user_id\"") }, "\(file) names a wire field")
        }
    }
}
