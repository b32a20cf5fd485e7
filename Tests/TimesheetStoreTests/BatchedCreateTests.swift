import Foundation
import PostgresNIO
import Testing
import TimesheetDomain

@testable import TimesheetStore

/// Single new entries inserted together (``InsertEntriesStatement`` through ``StatementBatcher``): each caller gets
/// the entry and the answer its own statement would have given.
@Suite(.serialized) struct BatchedCreateTests {
    static let database = SuiteDatabase("batched-creates")
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func entry(_ user: String, day: Int, hundredths: Int, notes: String? = nil) -> NewTimesheet {
        NewTimesheet(
            userID: user,
            date: CalendarDay(daysSinceEpoch: day),
            project: "Batch",
            hours: Hours(hundredths: hundredths),
            notes: notes
        )
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

    /// The `created` events of `ids`: entry id → actor.
    static func createdEvents(of ids: [Int64], in connection: PostgresConnection) async throws -> [Int64: String] {
        let rows = try await connection.query(
            "SELECT entry_id, actor FROM timesheet_events WHERE action = 'created' AND entry_id = ANY(\(ids))",
            logger: testLogger
        ).decode((Int64, String).self)
        var events: [Int64: String] = [:]
        for try await (id, actor) in rows { events[id] = actor }
        return events
    }

    @Test func aBatchStoresWhatEachStatementAloneWould() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.unique("batch-owner")
        var uploaded = Self.entry(owner, day: 19_000, hundredths: 250, notes: "with notes\nand a line")
        uploaded.createdBy = "uploader-client"
        let calls = [
            NewEntryCall(Self.entry(owner, day: 19_001, hundredths: 100), at: Self.now),
            NewEntryCall(uploaded, at: Self.now.addingTimeInterval(1)),
            NewEntryCall(Self.entry(Self.unique("other"), day: 19_000, hundredths: 2_400, notes: ""), at: Self.now),
        ]
        let answers = try await withConnection(configuration) { connection in
            try await PostgresTimesheetRepository.insertEntries(calls, on: connection, logger: testLogger)
        }
        let ids = try calls.map { try #require(try answers[$0]?.get()) }
        #expect(Set(ids).count == 3)
        try await withRepository(configuration) { repository in
            for (call, id) in zip(calls, ids) {
                let stored = try await repository.entry(TimesheetID(id))
                #expect(stored == call.entry.stored(as: TimesheetID(id), at: call.now))
            }
        }
        let events = try await withConnection(configuration) { try await Self.createdEvents(of: ids, in: $0) }
        #expect(events == Dictionary(uniqueKeysWithValues: zip(ids, calls.map(\.entry.createdBy))))
    }

    @Test func anEntryTheDailyLimitRefusesFailsAlone() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.unique("limit-owner")
        try await withRepository(configuration) { repository in
            _ = try await repository.insert([Self.entry(owner, day: 19_100, hundredths: 2_300)], at: Self.now)
        }
        let calls = [
            NewEntryCall(Self.entry(owner, day: 19_101, hundredths: 100), at: Self.now),
            NewEntryCall(Self.entry(owner, day: 19_100, hundredths: 200), at: Self.now),
            NewEntryCall(Self.entry(owner, day: 19_100, hundredths: 100), at: Self.now),
        ]
        let answers = try await withConnection(configuration) { connection in
            try await PostgresTimesheetRepository.insertEntries(calls, on: connection, logger: testLogger)
        }
        #expect(throws: Never.self) { try answers[calls[0]]?.get() }
        #expect(throws: Never.self) { try answers[calls[2]]?.get() }
        let refusal = try #require(answers[calls[1]])
        #expect {
            try refusal.get()
        } throws: { error in
            (error as? PSQLError).map(PostgresTimesheetRepository.isDailyLimitRefusal) == true
        }
        try await withRepository(configuration) { repository in
            let stored = try await repository.entries(TimesheetQuery(userID: owner, order: .newestDayFirst, limit: 10))
            #expect(stored.map(\.hours.hundredths).sorted() == [100, 100, 2_300])
            // Through the repository, the same refusal is the domain's conflict, phrased with the day's hours.
            await #expect {
                try await repository.insert([Self.entry(owner, day: 19_100, hundredths: 50)], at: Self.now)
            } throws: { error in
                guard case TimesheetError.conflict(let conflict) = error else { return false }
                return conflict.code == .dailyLimitExceeded
            }
        }
    }

    @Test func aValueTheDatabaseCannotStoreFailsAlone() async throws {
        let configuration = try await Self.database.get()
        let owner = Self.unique("nul-owner")
        var unstorable = Self.entry(owner, day: 19_200, hundredths: 100)
        unstorable.project = "nul\u{0}byte"
        let calls = [
            NewEntryCall(Self.entry(owner, day: 19_201, hundredths: 100), at: Self.now),
            NewEntryCall(unstorable, at: Self.now),
        ]
        let answers = try await withConnection(configuration) { connection in
            try await PostgresTimesheetRepository.insertEntries(calls, on: connection, logger: testLogger)
        }
        #expect(throws: Never.self) { try answers[calls[0]]?.get() }
        #expect(throws: PSQLError.self) { try answers[calls[1]]?.get() }
    }

    /// Batches of different sizes share one generic plan (see ``InsertEntriesStatement``).
    @Test func batchesAreNotPlannedOnEveryExecution() async throws {
        try await withConnection(try await Self.database.get()) { connection in
            let owner = Self.unique("plan-owner")
            for round in 0..<10 {
                let calls = (0..<(2 + round % 5)).map {
                    NewEntryCall(Self.entry(owner, day: 19_300 + round * 10 + $0, hundredths: 100), at: Self.now)
                }
                let answers = try await PostgresTimesheetRepository.insertEntries(
                    calls,
                    on: connection,
                    logger: testLogger
                )
                #expect(calls.allSatisfy { (try? answers[$0]?.get()) != nil })
            }
            let plans = try await PreparedStatementPlanTests.plans(of: InsertEntriesStatement.name, in: connection)
            #expect(plans.generic >= 5 && plans.custom <= 5, "\(plans)")
        }
    }

    /// Many creates at once on a pool of one connection: they are batched, and each caller gets its own entry, stored
    /// with its event; creates to a full day are refused one by one while the rest of their batch is stored.
    @Test func concurrentCreatesOnABusyPoolGetTheirOwnEntries() async throws {
        var configuration = try await Self.database.get()
        configuration.poolSize = 1
        let users = (0..<20).map { Self.unique("busy-\($0)") }
        try await withRepository(configuration) { repository in
            // Per user, ten entries of 3 hours on ten days, and five of 6 hours on one more day: four fit there.
            let results = await withTaskGroup(of: (NewTimesheet, Result<Timesheet, any Error>).self) { group in
                for user in users {
                    for index in 0..<15 {
                        let new =
                            index < 10
                            ? Self.entry(user, day: 19_400 + index, hundredths: 300)
                            : Self.entry(user, day: 19_450, hundredths: 600)
                        group.addTask {
                            do {
                                return (new, .success(try await repository.insert([new], at: Self.now)[0]))
                            } catch {
                                return (new, .failure(error))
                            }
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            var ids: [Int64] = []
            var refused = 0
            for (new, result) in results {
                switch result {
                case .success(let stored):
                    #expect(stored == new.stored(as: stored.id, at: Self.now))
                    #expect(try await repository.entry(stored.id) == stored)
                    ids.append(stored.id.rawValue)
                case .failure(TimesheetError.conflict(let conflict)) where conflict.code == .dailyLimitExceeded:
                    #expect(new.date.daysSinceEpoch == 19_450)
                    refused += 1
                case .failure(let error):
                    Issue.record("\(new.userID) \(new.date): \(error)")
                }
            }
            #expect(ids.count == 20 * 14 && Set(ids).count == ids.count)
            #expect(refused == 20)
            let pool = repository.pools.clients[0]
            #expect((repository.batchers.newEntries(on: pool)?.largestBatch ?? 0) > 1, "no create was batched")
            let events = try await withConnection(configuration) { try await Self.createdEvents(of: ids, in: $0) }
            #expect(events.count == ids.count)
        }
    }
}
