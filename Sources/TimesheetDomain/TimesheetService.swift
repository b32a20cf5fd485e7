import Foundation

/// The timesheet use cases. Enforces permissions and rules; the repository stores.
///
/// ```swift
/// let timesheets = TimesheetService(repository: repository)
/// let entry = try await timesheets.create(input, by: caller)
/// try await timesheets.approve(entry.id, by: manager)
/// ```
public struct TimesheetService<Repository: TimesheetRepository>: Sendable {
    public let repository: Repository
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - repository: Where entries are stored.
    ///   - now: The clock, injectable for tests.
    public init(repository: Repository, now: @escaping @Sendable () -> Date = { Date() }) {
        self.repository = repository
        self.now = now
    }

    // MARK: Own entries

    /// Creates an entry owned by the caller. Needs ``Permission/create``.
    public func create(_ input: TimesheetInput, by caller: Caller) async throws -> Timesheet {
        try await repository.insert([try validatedNew(input, by: caller)], at: now())[0]
    }

    /// ``create(_:by:)`` under an idempotency key, scoped to the caller: a repeat of a request already answered gets
    /// its recorded answer and creates nothing (see ``IdempotentRequest``).
    public func create(
        _ input: TimesheetInput,
        by caller: Caller,
        idempotent request: IdempotentRequest
    ) async throws -> IdempotentOutcome {
        let entry = try validatedNew(input, by: caller)
        return try await repository.insert([entry], at: now(), idempotent: request.scoped(to: caller))
    }

    private func validatedNew(_ input: TimesheetInput, by caller: Caller) throws -> NewTimesheet {
        try caller.require(.create)
        return try TimesheetRules.validateNew(input, owner: caller.userID).get()
    }

    /// One of the caller's own entries; another user's is not found. Needs ``Permission/read``.
    public func entry(_ id: TimesheetID, for caller: Caller) async throws -> Timesheet {
        try caller.require(.read)
        guard let entry = try await repository.entry(id), entry.userID == caller.userID else {
            throw TimesheetError.notFound(id)
        }
        return entry
    }

    /// A page of the caller's own entries, latest day first. Needs ``Permission/read``.
    public func list(_ filter: TimesheetFilter, page: PageRequest, for caller: Caller) async throws -> TimesheetPage {
        try caller.require(.read)
        let query = TimesheetQuery(
            userID: caller.userID,
            from: filter.from,
            to: filter.to,
            project: filter.project,
            status: filter.status,
            order: .newestDayFirst,
            after: page.cursor,
            limit: page.limit
        )
        return try await self.page(query)
    }

    /// Changes one of the caller's pending entries: all fields when `replacing` (PUT), the given ones otherwise
    /// (PATCH). Needs ``Permission/update``.
    public func update(
        _ id: TimesheetID,
        with input: TimesheetInput,
        replacing: Bool,
        by caller: Caller
    )
        async throws -> Timesheet
    {
        try caller.require(.update)
        let changes = try TimesheetRules.validateChanges(input, owner: caller.userID, replacing: replacing).get()
        let clock = self.now
        let owner = caller.userID
        let updated = try await repository.update(id, by: owner) { current throws(TimesheetError) in
            guard current.userID == owner else { throw .notFound(id) }
            return try current.applying(changes, at: clock())
        }
        guard let updated else { throw TimesheetError.notFound(id) }
        return updated
    }

    /// Deletes one of the caller's pending entries. Needs ``Permission/delete``.
    public func delete(_ id: TimesheetID, by caller: Caller) async throws {
        try caller.require(.delete)
        let owner = caller.userID
        let deleted = try await repository.delete(id, by: owner, at: now()) { current throws(TimesheetError) in
            guard current.userID == owner else { throw .notFound(id) }
            try current.checkDeletable()
        }
        guard deleted else { throw TimesheetError.notFound(id) }
    }

    /// The caller's hours per ISO week and project. Needs ``Permission/read``.
    public func weeklySummary(_ range: SummaryRange, for caller: Caller) async throws -> [WeeklyProjectHours] {
        try caller.require(.read)
        let days = try await repository.dailyTotals(userID: caller.userID, from: range.from, to: range.to)
        return WeeklyProjectHours.grouping(days)
    }

    // MARK: Reports

    /// Hours per group of every user's entries (see ``HoursReportRequest``), streamed in order. Needs
    /// ``Permission/readReports``.
    public func hoursReport(_ request: HoursReportRequest, for caller: Caller) async throws -> HoursReportRows {
        try caller.require(.readReports)
        return try await repository.hoursReport(request)
    }

    // MARK: Machine clients

    /// Creates entries for many users, all or none. Every item needs a user id; every invalid item is reported
    /// by index. Needs ``Permission/batchUpload``.
    public func createBatch(_ inputs: [TimesheetInput], by caller: Caller) async throws -> [Timesheet] {
        let entries = try validatedBatch(inputs, by: caller)
        return try await hidingOthersHours(of: caller) { try await repository.insert(entries, at: now()) }
    }

    /// ``createBatch(_:by:)`` under an idempotency key, scoped to the caller: a machine client retrying an upload
    /// after a timeout gets the first answer again and stores nothing twice (see ``IdempotentRequest``).
    public func createBatch(
        _ inputs: [TimesheetInput],
        by caller: Caller,
        idempotent request: IdempotentRequest
    ) async throws -> IdempotentOutcome {
        let entries = try validatedBatch(inputs, by: caller)
        let scoped = request.scoped(to: caller)
        return try await hidingOthersHours(of: caller) {
            try await repository.insert(entries, at: now(), idempotent: scoped)
        }
    }

    /// Every item validated (each problem reported under its index), recorded as created by the caller.
    private func validatedBatch(_ inputs: [TimesheetInput], by caller: Caller) throws -> [NewTimesheet] {
        try caller.require(.batchUpload)
        guard !inputs.isEmpty else {
            throw TimesheetError.validationFailed([
                FieldError(field: "", code: .required, message: "Send at least one entry.")
            ])
        }
        guard inputs.count <= TimesheetRules.maxBatchSize else {
            throw TimesheetError.validationFailed([
                FieldError(
                    field: "",
                    code: .tooMany,
                    message: "Send at most \(TimesheetRules.maxBatchSize) entries per upload; split larger uploads."
                )
            ])
        }
        var entries: [NewTimesheet] = []
        entries.reserveCapacity(inputs.count)
        var errors: [FieldError] = []
        for (index, input) in inputs.enumerated() {
            switch TimesheetRules.validateNew(input, owner: nil) {
            case .success(var entry):
                entry.createdBy = caller.userID
                entries.append(entry)
            case .failure(.validationFailed(let itemErrors)): errors += itemErrors.map { $0.inItem(index) }
            case .failure(let other): throw other
            }
        }
        guard errors.isEmpty else { throw TimesheetError.validationFailed(errors) }
        return entries
    }

    /// Runs a batch write, telling a refusal by the daily limit without the hours of a day that is not the caller's.
    private func hidingOthersHours<Result>(
        of caller: Caller,
        _ write: () async throws -> Result
    ) async throws -> Result {
        do {
            return try await write()
        } catch TimesheetError.conflict(let conflict)
            where conflict.exceededDay.map({ $0.day.userID != caller.userID }) ?? false
        {
            // A batch names other users: the hours they have recorded are theirs to see, not the uploader's.
            throw TimesheetError.conflict(conflict.withoutRecordedHours())
        }
    }

    // MARK: Review

    /// Pending entries of all users, oldest first. Needs ``Permission/approve``.
    public func pendingReview(page: PageRequest, for caller: Caller) async throws -> TimesheetPage {
        try caller.require(.approve)
        let query = TimesheetQuery(
            userID: nil,
            status: .pending,
            order: .oldestFirst,
            after: page.cursor,
            limit: page.limit
        )
        return try await self.page(query)
    }

    /// Approves a pending entry; approving it again returns it unchanged. Needs ``Permission/approve``.
    public func approve(_ id: TimesheetID, by caller: Caller) async throws -> Timesheet {
        try await review(id, by: caller) { entry, reviewer, now throws(TimesheetError) in
            try entry.approved(by: reviewer, at: now)
        }
    }

    /// Rejects a pending entry with an optional reason; rejecting it again returns it unchanged.
    /// Needs ``Permission/approve``.
    public func reject(_ id: TimesheetID, reason: String?, by caller: Caller) async throws -> Timesheet {
        try await review(id, by: caller) { entry, reviewer, now throws(TimesheetError) in
            try entry.rejected(by: reviewer, reason: reason, at: now)
        }
    }

    /// A review by `caller`: `decide` runs on the entry as it is while held, never on the reviewer's own entry.
    private func review(
        _ id: TimesheetID,
        by caller: Caller,
        _ decide: @escaping @Sendable (Timesheet, String, Date) throws(TimesheetError) -> Timesheet
    ) async throws -> Timesheet {
        try caller.require(.approve)
        let clock = self.now
        let reviewer = caller.userID
        guard
            let entry = try await repository.update(
                id,
                by: reviewer,
                { current throws(TimesheetError) in
                    guard current.userID != reviewer else { throw .conflict(.selfReview) }
                    return try decide(current, reviewer, clock())
                }
            )
        else { throw TimesheetError.notFound(id) }
        return entry
    }

    // MARK: History

    /// Every change of an entry, oldest first: to its owner, and to reviewers (``Permission/approve``) for anyone's.
    /// Anyone else is told it does not exist, as for the entry itself. A deleted entry's history stays readable by
    /// the same callers; its last event is the deletion. Needs ``Permission/read``.
    public func history(_ id: TimesheetID, for caller: Caller) async throws -> [TimesheetEvent] {
        try caller.require(.read)
        let events = try await repository.history(of: id)
        guard let owner = events.last?.ownerID, owner == caller.userID || caller.permissions.contains(.approve)
        else { throw TimesheetError.notFound(id) }
        return events
    }

    // MARK: Helpers

    /// Asks for one entry more than the page holds to learn whether another page follows.
    private func page(_ query: TimesheetQuery) async throws -> TimesheetPage {
        var probe = query
        probe.limit = query.limit + 1
        var items = try await repository.entries(probe)
        var next: TimesheetCursor?
        if items.count > query.limit {
            items.removeLast(items.count - query.limit)
            next = items.last.map { TimesheetCursor(order: query.order, after: $0) }
        }
        return TimesheetPage(items: items, nextCursor: next)
    }
}

extension IdempotentRequest {
    /// The request with its key scoped to the caller, whatever scope it came with.
    fileprivate func scoped(to caller: Caller) -> IdempotentRequest {
        var scoped = self
        scoped.scope = caller.userID
        return scoped
    }
}
