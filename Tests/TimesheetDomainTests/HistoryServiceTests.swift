import Foundation
import Testing
import TimesheetDomain
import TimesheetDomainTesting

/// Who may read a history, what each change records, and idempotent creation, in the domain alone.
@Suite struct HistoryServiceTests {
    let repository = InMemoryTimesheetRepository()
    let clock = Date(timeIntervalSince1970: 1_700_000_000)
    var service: TimesheetService<InMemoryTimesheetRepository> {
        let now = clock
        return TimesheetService(repository: repository, now: { now })
    }

    let employee = Caller(userID: "employee", permissions: [.read, .create, .update, .delete])
    let contractor = Caller(userID: "contractor", permissions: [.read, .create, .update, .delete])
    let manager = Caller(userID: "manager", permissions: [.read, .create, .update, .delete, .approve])
    let machine = Caller(userID: "batch@clients", permissions: [.batchUpload])

    func input(_ date: String = "2017-05-10", hours: String = "5", userID: String? = nil) -> TimesheetInput {
        TimesheetInput(
            userID: userID.map(InputValue.string),
            date: .string(date),
            project: .string("StoreZero"),
            hours: .number(hours)
        )
    }

    func request(_ key: String, scope: String = "anyone", digest: [UInt8] = [1]) -> IdempotentRequest {
        IdempotentRequest(scope: scope, key: key, operation: "create", digest: digest) { stored in
            RecordedAnswer(status: 201, body: Array("\(stored.map(\.id))".utf8))
        }
    }

    @Test func theOwnerAndReviewersReadAHistoryAndNobodyElse() async throws {
        let entry = try await service.create(input(), by: employee)
        _ = try await service.approve(entry.id, by: manager)
        #expect(try await service.history(entry.id, for: employee).map(\.action) == [.created, .approved])
        #expect(try await service.history(entry.id, for: manager).map(\.actor) == ["employee", "manager"])
        await #expect(throws: TimesheetError.notFound(entry.id)) {
            _ = try await service.history(entry.id, for: contractor)
        }
        await #expect(throws: TimesheetError.notFound(TimesheetID(999))) {
            _ = try await service.history(TimesheetID(999), for: manager)
        }
        await #expect(throws: TimesheetError.forbidden(missing: .read)) {
            _ = try await service.history(entry.id, for: machine)
        }
    }

    @Test func aDeletedEntrysHistoryEndsWithTheDeletion() async throws {
        let entry = try await service.create(input(), by: employee)
        try await service.delete(entry.id, by: employee)
        let history = try await service.history(entry.id, for: employee)
        #expect(history.map(\.action) == [.created, .deleted])
        #expect(history.last?.actor == "employee" && history.last?.at == clock)
        #expect(try await service.history(entry.id, for: manager).count == 2)
        await #expect(throws: TimesheetError.notFound(entry.id)) {
            _ = try await service.history(entry.id, for: contractor)
        }
    }

    @Test func aBatchIsRecordedAsCreatedByTheMachineClient() async throws {
        let stored = try await service.createBatch(
            [input(userID: "employee"), input(userID: "contractor")],
            by: machine
        )
        #expect(stored.map(\.createdBy) == ["batch@clients", "batch@clients"])
        #expect(try await service.history(stored[0].id, for: employee).map(\.actor) == ["batch@clients"])
        let own = try await service.create(input("2017-05-11"), by: employee)
        #expect(own.createdBy == "employee")
    }

    @Test func keysAreScopedToTheCallerWhateverScopeTheyCameWith() async throws {
        let first = try await service.create(input(), by: employee, idempotent: request("k", scope: "contractor"))
        let replay = try await service.create(input(), by: employee, idempotent: request("k", scope: "someone"))
        #expect(replay == .replayed(first.answer))
        let other = try await service.create(input(), by: contractor, idempotent: request("k", scope: "employee"))
        guard case .written(let stored, _) = other else {
            Issue.record("another caller's equal key replayed: \(other)")
            return
        }
        #expect(stored.first?.userID == "contractor")
        await #expect(throws: TimesheetError.idempotencyKeyReused(key: "k")) {
            _ = try await service.create(input(hours: "6"), by: employee, idempotent: request("k", digest: [2]))
        }
        #expect(await repository.count == 2)
    }

    @Test func invalidInputIsRefusedBeforeTheKeyIsUsed() async throws {
        await #expect(throws: TimesheetError.self) {
            _ = try await service.create(input(hours: "25"), by: employee, idempotent: request("k"))
        }
        let written = try await service.create(input(), by: employee, idempotent: request("k"))
        guard case .written = written else {
            Issue.record("the refused request used the key: \(written)")
            return
        }
    }

    @Test func changesAreTheirKindOfEvent() throws {
        let entry = NewTimesheet(
            userID: "employee",
            date: try CalendarDay.parse("2017-05-10").get(),
            project: "P",
            hours: Hours(hundredths: 500)
        ).stored(as: TimesheetID(1), at: clock)
        let later = clock.addingTimeInterval(60)
        #expect(TimesheetEvent.change(from: entry, to: entry, by: "x") == nil)
        let approved = try entry.approved(by: "manager", at: later)
        #expect(TimesheetEvent.change(from: entry, to: approved, by: "manager")?.action == .approved)
        let rejected = try entry.rejected(by: "manager", reason: "no", at: later)
        let rejection = TimesheetEvent.change(from: entry, to: rejected, by: "manager")
        #expect(rejection?.action == .rejected && rejection?.reason == "no" && rejection?.at == later)
        let edited = try entry.applying(TimesheetChanges(hours: Hours(hundredths: 600)), at: later)
        let edit = TimesheetEvent.change(from: entry, to: edited, by: "employee")
        #expect(edit?.action == .updated && edit?.before?.hours == Hours(hundredths: 500))
        #expect(edit?.after?.hours == Hours(hundredths: 600) && edit?.actor == "employee" && edit?.at == later)
    }
}
