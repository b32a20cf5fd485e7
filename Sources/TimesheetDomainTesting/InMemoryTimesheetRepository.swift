import Foundation
import TimesheetDomain

/// A repository in memory, for tests and for the router's own tests.
///
/// Honest about concurrency: each operation runs in one actor turn, so checks and writes are atomic exactly as a
/// PostgreSQL transaction with row locks makes them; ids are never reused, even after deletes.
public actor InMemoryTimesheetRepository: TimesheetRepository {
    private var rows: [TimesheetID: Timesheet] = [:]
    private var lastID: Int64 = 0
    /// Every change, in the order written (what `timesheet_events` holds in PostgreSQL).
    private var events: [TimesheetEvent] = []
    private var keys: [KeyScope: RecordedKey] = [:]

    private struct KeyScope: Hashable {
        var scope: String
        var key: String
    }

    private struct RecordedKey {
        var operation: String
        var digest: [UInt8]
        var answer: RecordedAnswer
        var expiresAt: Date
    }

    public init() {}

    public func insert(_ entries: [NewTimesheet], at now: Date) throws -> [Timesheet] {
        let stored = try checked(entries, at: now)
        store(stored)
        return stored
    }

    public func insert(
        _ entries: [NewTimesheet],
        at now: Date,
        idempotent request: IdempotentRequest
    ) throws -> IdempotentOutcome {
        keys = keys.filter { $0.value.expiresAt > now }
        let scope = KeyScope(scope: request.scope, key: request.key)
        if let recorded = keys[scope] {
            guard recorded.operation == request.operation, recorded.digest == request.digest else {
                throw TimesheetError.idempotencyKeyReused(key: request.key)
            }
            return .replayed(recorded.answer)
        }
        let stored = try checked(entries, at: now)
        let answer = try request.answer(stored)
        store(stored)
        keys[scope] = RecordedKey(
            operation: request.operation,
            digest: request.digest,
            answer: answer,
            expiresAt: now.addingTimeInterval(request.lifetime)
        )
        return .written(stored, answer)
    }

    /// The entries as they would be stored, after the daily limit's check; nothing is written yet.
    private func checked(_ entries: [NewTimesheet], at now: Date) throws -> [Timesheet] {
        var recorded: [UserDay: Hours] = [:]
        for day in Set(entries.map { UserDay(userID: $0.userID, date: $0.date) }) {
            recorded[day] = hours(on: day, excluding: nil)
        }
        try DailyLimit.check(entries, recorded: recorded)
        return entries.enumerated().map { offset, entry in
            entry.stored(as: TimesheetID(lastID + Int64(offset) + 1), at: now)
        }
    }

    private func store(_ stored: [Timesheet]) {
        for entry in stored {
            rows[entry.id] = entry
            events.append(.created(entry))
        }
        lastID += Int64(stored.count)
    }

    public func entry(_ id: TimesheetID) -> Timesheet? { rows[id] }

    public func entries(_ query: TimesheetQuery) -> [Timesheet] {
        let matching = rows.values.filter { entry in
            query.matches(entry) && (query.after.map { query.order.isAfter(entry, $0) } ?? true)
        }
        return Array(matching.sorted(by: query.order.precedes).prefix(query.limit))
    }

    public func update(
        _ id: TimesheetID,
        by actor: String,
        _ change: @escaping @Sendable (Timesheet) throws -> Timesheet
    ) throws -> Timesheet? {
        guard let current = rows[id] else { return nil }
        let changed = try change(current)
        guard changed != current else { return current }
        if changed.date != current.date || changed.hours != current.hours {
            let day = UserDay(userID: changed.userID, date: changed.date)
            try DailyLimit.check(day, recorded: hours(on: day, excluding: id), adding: changed.hours)
        }
        rows[id] = changed
        if let event = TimesheetEvent.change(from: current, to: changed, by: actor) { events.append(event) }
        return changed
    }

    public func delete(
        _ id: TimesheetID,
        by actor: String,
        at now: Date,
        _ check: @escaping @Sendable (Timesheet) throws -> Void
    ) throws -> Bool {
        guard let current = rows[id] else { return false }
        try check(current)
        rows[id] = nil
        events.append(.deleted(current, by: actor, at: now))
        return true
    }

    public func history(of id: TimesheetID) -> [TimesheetEvent] {
        events.filter { $0.entryID == id }
    }

    public func dailyTotals(userID: String, from: CalendarDay, to: CalendarDay) -> [DailyProjectHours] {
        var totals: [DailyProjectHours: Hours] = [:]
        for entry in rows.values
        where entry.userID == userID && entry.status != .rejected && entry.date >= from && entry.date <= to {
            let key = DailyProjectHours(date: entry.date, project: entry.project, hours: .zero)
            totals[key, default: .zero] = totals[key, default: .zero] + entry.hours
        }
        return totals.map { DailyProjectHours(date: $0.key.date, project: $0.key.project, hours: $0.value) }
            .sorted { ($0.date, $0.project) < ($1.date, $1.project) }
    }

    public func hoursReport(_ request: HoursReportRequest) -> HoursReportRows {
        HoursReportRows(request.aggregate(rows.values))
    }

    /// The number of stored entries, for tests that assert nothing was written.
    public var count: Int { rows.count }

    private func hours(on day: UserDay, excluding id: TimesheetID?) -> Hours {
        rows.values.reduce(into: .zero) { total, entry in
            if entry.userID == day.userID, entry.date == day.date, entry.status != .rejected, entry.id != id {
                total = total + entry.hours
            }
        }
    }
}
