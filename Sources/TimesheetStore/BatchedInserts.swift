import Foundation
import Logging
import PostgresNIO
import TimesheetDomain

/// One caller's new entry waiting to be inserted in a batch (``StatementBatcher``). Equal only to itself: two callers
/// creating equal entries make two entries.
final class NewEntryCall: Hashable, Sendable {
    let entry: NewTimesheet
    let now: Date

    init(_ entry: NewTimesheet, at now: Date) {
        self.entry = entry
        self.now = now
    }

    static func == (lhs: NewEntryCall, rhs: NewEntryCall) -> Bool { lhs === rhs }

    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

extension PostgresTimesheetRepository {
    typealias InsertedIDs = StatementBatcher<NewEntryCall, Int64>.Answers

    /// Inserts the entries of `calls` on `connection` and answers each with its id: one alone by
    /// ``InsertEntryStatement``, several together by ``InsertEntriesStatement`` (one commit).
    ///
    /// A batch is all or nothing, so when PostgreSQL refuses it (one entry would take its day above 24 hours, a
    /// deadlock, a value it cannot store) each entry then runs alone, and each caller gets the answer its own
    /// statement would have had: only the refused entry fails. A connection lost fails the whole batch, as it would
    /// each statement.
    static func insertEntries(
        _ calls: [NewEntryCall],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> InsertedIDs {
        func insertAlone(_ call: NewEntryCall) async throws -> Int64 {
            let ids = try await connection.execute(
                InsertEntryStatement(entry: call.entry, now: call.now),
                logger: logger
            )
            for try await id in ids { return id }
            throw StoreError.unexpected(underlying: UnexpectedIDCount(expected: 1, got: 0))
        }
        if calls.count == 1 { return [calls[0]: .success(try await insertAlone(calls[0]))] }
        var ids = [Int64?](repeating: nil, count: calls.count)
        do {
            let rows = try await connection.execute(
                InsertEntriesStatement(entries: calls.map { ($0.entry, $0.now) }),
                logger: logger
            )
            for try await (position, id) in rows {
                guard ids.indices.contains(position - 1) else {
                    throw TimesheetRecordDecoder.UnexpectedRecord(
                        description: "inserted entry \(position) of a batch of \(calls.count)"
                    )
                }
                ids[position - 1] = id
            }
        } catch let error as PSQLError where error.code == .server {
            return await StatementBatcher<NewEntryCall, Int64>.answeringEachAlone(calls, insertAlone)
        }
        let missing = StoreError.unexpected(
            underlying: UnexpectedIDCount(expected: calls.count, got: ids.count { $0 != nil })
        )
        var answers = InsertedIDs(minimumCapacity: calls.count)
        for (call, id) in zip(calls, ids) {
            answers[call] = id.map { .success($0) } ?? .failure(missing)
        }
        return answers
    }
}
