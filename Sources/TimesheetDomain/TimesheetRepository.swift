import Foundation

/// Stores timesheet entries. The PostgreSQL store and the in-memory repository implement it.
///
/// A repository stores; the rules are the domain's. Where a rule must hold under concurrency, the repository runs
/// the domain's check inside its own atomic step (a transaction with row and advisory locks in PostgreSQL, actor
/// isolation in memory), so two requests can never both pass a check that only one of them may pass.
public protocol TimesheetRepository: Sendable {
    /// Stores all entries or none, assigning ids in order and `createdAt == updatedAt == now`.
    ///
    /// While holding off concurrent writers to the same user-days, it sums the hours already recorded on each
    /// user-day the entries touch (excluding rejected entries) and calls ``DailyLimit/check(_:recorded:adding:)``,
    /// throwing its error unchanged.
    ///
    /// Each entry records its ``NewTimesheet/createdBy``, and a ``TimesheetEvent/created(_:)`` event of it is written
    /// in the same atomic step.
    func insert(_ entries: [NewTimesheet], at now: Date) async throws -> [Timesheet]

    /// ``insert(_:at:)`` under an idempotency key (see ``IdempotentRequest``): in one atomic step, claims the key,
    /// stores the entries and records `request.answer` of them. When the key already holds an answer for the same
    /// operation and digest, returns it and stores nothing; for anything else throws
    /// ``TimesheetError/idempotencyKeyReused(key:)``. A key past its lifetime counts as unused (and is purged).
    func insert(
        _ entries: [NewTimesheet],
        at now: Date,
        idempotent request: IdempotentRequest
    ) async throws -> IdempotentOutcome

    /// The entry with this id, whoever owns it.
    func entry(_ id: TimesheetID) async throws -> Timesheet?

    /// Entries matching the query, in the query's order, at most `query.limit` of them, starting after its cursor.
    func entries(_ query: TimesheetQuery) async throws -> [Timesheet]

    /// Atomically replaces the entry with `change(current)`, or returns `nil` when there is no such entry.
    ///
    /// `change` may throw a ``TimesheetError``, which is rethrown with nothing written. When it returns the entry
    /// unchanged, nothing is written. When the date or hours change, the owner's new day is checked with
    /// ``DailyLimit/check(_:recorded:adding:)`` (this entry excluded) under the same guard as ``insert(_:at:)``.
    ///
    /// `change` runs while the entry is held (a row lock in PostgreSQL), after any concurrent change to it has
    /// been written, so a timestamp read inside `change` orders the entry's changes as they happened; one read
    /// before the call would not (an edit waiting behind a review could be stamped before the review).
    ///
    /// A written change is recorded as ``TimesheetEvent/change(from:to:by:)`` with `actor`, in the same atomic step.
    func update(
        _ id: TimesheetID,
        by actor: String,
        _ change: @escaping @Sendable (Timesheet) throws -> Timesheet
    ) async throws -> Timesheet?

    /// Atomically deletes the entry if `check(current)` does not throw; `false` when there is no such entry. The
    /// deletion is recorded as ``TimesheetEvent/deleted(_:by:at:)`` in the same atomic step.
    func delete(
        _ id: TimesheetID,
        by actor: String,
        at now: Date,
        _ check: @escaping @Sendable (Timesheet) throws -> Void
    ) async throws -> Bool

    /// Every event of the entry with this id, oldest first, whoever owns it; also after the entry was deleted.
    /// Empty when no entry ever had this id.
    func history(of id: TimesheetID) async throws -> [TimesheetEvent]

    /// Hours per day and project of one user's entries (rejected ones excluded) between two days inclusive.
    func dailyTotals(userID: String, from: CalendarDay, to: CalendarDay) async throws -> [DailyProjectHours]

    /// The rows of an hours report, as ``HoursReportRequest/aggregate(_:)`` defines them (one per group of the
    /// entries the request counts, exact sums, sorted by its dimensions with text in byte order), read one at a time
    /// so that a report of any size streams. Throws before returning when the report cannot be started.
    func hoursReport(_ request: HoursReportRequest) async throws -> HoursReportRows
}

/// The 24-hour cap on one user's day, across entries.
public enum DailyLimit {
    /// Throws a conflict when `recorded + adding` exceeds ``Hours/dailyLimit``.
    public static func check(_ day: UserDay, recorded: Hours, adding: Hours) throws(TimesheetError) {
        guard recorded + adding <= Hours.dailyLimit else {
            throw .conflict(.dailyLimitExceeded(day, recorded: recorded, adding: adding))
        }
    }

    /// Checks a batch of new entries against what each user-day already has.
    public static func check(_ entries: [NewTimesheet], recorded: [UserDay: Hours]) throws(TimesheetError) {
        var adding: [UserDay: Hours] = [:]
        for entry in entries {
            adding[UserDay(userID: entry.userID, date: entry.date), default: .zero] =
                adding[UserDay(userID: entry.userID, date: entry.date), default: .zero] + entry.hours
        }
        for (day, hours) in adding.sorted(by: { ($0.key.userID, $0.key.date) < ($1.key.userID, $1.key.date) }) {
            try check(day, recorded: recorded[day] ?? .zero, adding: hours)
        }
    }
}

/// A filtered, ordered page request to a repository.
public struct TimesheetQuery: Hashable, Sendable {
    /// Whose entries; `nil` means every user's (the review queue).
    public var userID: String?
    public var from: CalendarDay?
    public var to: CalendarDay?
    public var project: String?
    public var status: TimesheetStatus?
    public var order: TimesheetOrder
    /// Entries strictly after this position in `order`.
    public var after: TimesheetCursor?
    public var limit: Int

    public init(
        userID: String?,
        from: CalendarDay? = nil,
        to: CalendarDay? = nil,
        project: String? = nil,
        status: TimesheetStatus? = nil,
        order: TimesheetOrder,
        after: TimesheetCursor? = nil,
        limit: Int
    ) {
        self.userID = userID
        self.from = from
        self.to = to
        self.project = project
        self.status = status
        self.order = order
        self.after = after
        self.limit = limit
    }

    /// Whether an entry matches the filters (not the cursor); the in-memory repository's definition.
    public func matches(_ entry: Timesheet) -> Bool {
        if let userID, entry.userID != userID { return false }
        if let from, entry.date < from { return false }
        if let to, entry.date > to { return false }
        if let project, entry.project != project { return false }
        if let status, entry.status != status { return false }
        return true
    }
}

/// The orders lists come in; each has its own keyset.
public enum TimesheetOrder: Hashable, Sendable {
    /// A user's own list: latest day first, then latest id first. Keyset `(date, id)` descending.
    case newestDayFirst
    /// The review queue: oldest entry first. Keyset `id` ascending (ids grow with creation).
    case oldestFirst

    /// Whether `entry` comes strictly after `cursor` in this order.
    public func isAfter(_ entry: Timesheet, _ cursor: TimesheetCursor) -> Bool {
        switch self {
        case .newestDayFirst: (entry.date, entry.id) < (cursor.date, cursor.id)
        case .oldestFirst: entry.id > cursor.id
        }
    }

    /// Whether `lhs` comes before `rhs` in this order.
    public func precedes(_ lhs: Timesheet, _ rhs: Timesheet) -> Bool {
        switch self {
        case .newestDayFirst: (lhs.date, lhs.id) > (rhs.date, rhs.id)
        case .oldestFirst: lhs.id < rhs.id
        }
    }
}

/// A position in a list: the last entry a page showed. (Clients hold it as an opaque token, which the API encodes.)
public struct TimesheetCursor: Hashable, Sendable {
    public var order: TimesheetOrder
    public var date: CalendarDay
    public var id: TimesheetID

    public init(order: TimesheetOrder, after entry: Timesheet) {
        self.init(order: order, date: entry.date, id: entry.id)
    }

    public init(order: TimesheetOrder, date: CalendarDay, id: TimesheetID) {
        self.order = order
        self.date = date
        self.id = id
    }
}

/// One page of a list and where the next one starts.
public struct TimesheetPage: Hashable, Sendable {
    public var items: [Timesheet]
    /// Where the next page starts: after the last item. `nil` on the last page.
    public var nextCursor: TimesheetCursor?

    public init(items: [Timesheet], nextCursor: TimesheetCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// Hours recorded by a user on one day for one project.
public struct DailyProjectHours: Hashable, Sendable {
    public var date: CalendarDay
    public var project: String
    public var hours: Hours

    public init(date: CalendarDay, project: String, hours: Hours) {
        self.date = date
        self.project = project
        self.hours = hours
    }
}

/// Hours recorded in one ISO week for one project.
public struct WeeklyProjectHours: Hashable, Sendable {
    /// ISO week-numbering year and week, e.g. 2017 and 19 for `2017-W19`.
    public var isoYear: Int
    public var isoWeek: Int
    /// The Monday that starts the week.
    public var weekStart: CalendarDay
    public var project: String
    public var hours: Hours

    public init(isoYear: Int, isoWeek: Int, weekStart: CalendarDay, project: String, hours: Hours) {
        self.isoYear = isoYear
        self.isoWeek = isoWeek
        self.weekStart = weekStart
        self.project = project
        self.hours = hours
    }

    /// `2017-W19`.
    public var weekLabel: String { "\(isoYear)-W\(isoWeek < 10 ? "0" : "")\(isoWeek)" }

    /// Groups daily totals into ISO weeks, ordered by week then project.
    public static func grouping(_ days: [DailyProjectHours]) -> [WeeklyProjectHours] {
        struct Key: Hashable {
            var weekStart: CalendarDay
            var project: String
        }
        var totals: [Key: Hours] = [:]
        for day in days {
            totals[Key(weekStart: day.date.startOfISOWeek, project: day.project), default: .zero] =
                totals[Key(weekStart: day.date.startOfISOWeek, project: day.project), default: .zero] + day.hours
        }
        return totals.map { key, hours in
            let week = key.weekStart.isoWeek
            return WeeklyProjectHours(
                isoYear: week.year,
                isoWeek: week.week,
                weekStart: key.weekStart,
                project: key.project,
                hours: hours
            )
        }
        .sorted { ($0.weekStart, $0.project) < ($1.weekStart, $1.project) }
    }
}
