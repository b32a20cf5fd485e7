/// A page size and position, validated.
public struct PageRequest: Hashable, Sendable {
    public static let defaultLimit = 50
    public static let maxLimit = 500

    public var limit: Int
    public var cursor: TimesheetCursor?

    public init(limit: Int = PageRequest.defaultLimit, cursor: TimesheetCursor? = nil) {
        self.limit = limit
        self.cursor = cursor
    }

    /// Validates `limit` (1...500, default 50) and `cursor` (a token from an earlier page of the same list).
    public static func parse(limit: String?, cursor: String?, order: TimesheetOrder) -> Result<PageRequest, TimesheetError> {
        var errors: [FieldError] = []
        var request = PageRequest()
        if let limit {
            if let value = Int(limit), (1...maxLimit).contains(value) {
                request.limit = value
            } else {
                errors.append(
                    FieldError(
                        field: "limit", code: .outOfRange, message: "Use a whole number from 1 to \(maxLimit)."))
            }
        }
        if let cursor {
            if let value = TimesheetCursor(token: cursor, order: order) {
                request.cursor = value
            } else {
                errors.append(
                    FieldError(
                        field: "cursor", code: .invalidCursor,
                        message: "Pass back the next_cursor of an earlier page of this list unchanged."))
            }
        }
        return errors.isEmpty ? .success(request) : .failure(.validationFailed(errors))
    }
}

/// The filters of a user's own list, validated.
public struct TimesheetFilter: Hashable, Sendable {
    public var from: CalendarDay?
    public var to: CalendarDay?
    public var project: String?
    public var status: TimesheetStatus?

    public init(from: CalendarDay? = nil, to: CalendarDay? = nil, project: String? = nil, status: TimesheetStatus? = nil) {
        self.from = from
        self.to = to
        self.project = project
        self.status = status
    }

    /// Validates query parameters `from`, `to` (days, `from <= to`), `project` and `status`.
    public static func parse(from: String?, to: String?, project: String?, status: String?)
        -> Result<TimesheetFilter, TimesheetError>
    {
        var errors: [FieldError] = []
        var filter = TimesheetFilter()
        let range = parseRange(from: from, to: to, errors: &errors)
        filter.from = range.from
        filter.to = range.to
        if let project {
            filter.project = TimesheetRules.collect(
                TimesheetRules.validateProject(.string(project)), into: &errors)
        }
        if let status {
            if let value = TimesheetStatus(rawValue: status) {
                filter.status = value
            } else {
                errors.append(
                    FieldError(
                        field: "status", code: .invalidValue,
                        message: "Use one of " + TimesheetStatus.allCases.map(\.rawValue).joined(separator: ", ") + "."))
            }
        }
        return errors.isEmpty ? .success(filter) : .failure(.validationFailed(errors))
    }

    static func parseRange(from: String?, to: String?, errors: inout [FieldError]) -> (from: CalendarDay?, to: CalendarDay?) {
        let start = from.flatMap { TimesheetRules.collect(TimesheetRules.validateDate(.string($0), field: "from"), into: &errors) }
        let end = to.flatMap { TimesheetRules.collect(TimesheetRules.validateDate(.string($0), field: "to"), into: &errors) }
        if let start, let end, start > end {
            errors.append(FieldError(field: "to", code: .outOfRange, message: "to must not be before from."))
        }
        return (start, end)
    }
}

/// The date range of a weekly summary, validated.
public struct SummaryRange: Hashable, Sendable {
    /// The longest range one summary covers.
    public static let maxDays = 366
    /// The weeks a summary covers when no `from` is given.
    public static let defaultWeeks = 12

    public var from: CalendarDay
    public var to: CalendarDay

    public init(from: CalendarDay, to: CalendarDay) {
        self.from = from
        self.to = to
    }

    /// Validates `from` and `to`. Without `to`, the range ends `today`; without `from`, it starts on the Monday
    /// twelve weeks before. At most 366 days.
    public static func parse(from: String?, to: String?, today: CalendarDay) -> Result<SummaryRange, TimesheetError> {
        var errors: [FieldError] = []
        let range = TimesheetFilter.parseRange(from: from, to: to, errors: &errors)
        guard errors.isEmpty else { return .failure(.validationFailed(errors)) }
        let end = range.to ?? today
        let start = range.from ?? end.startOfISOWeek.adding(days: -7 * (defaultWeeks - 1))
        if start > end {
            return .failure(.validationFailed([FieldError(field: "from", code: .outOfRange, message: "from must not be after to.")]))
        }
        if end.daysSinceEpoch - start.daysSinceEpoch >= maxDays {
            return .failure(.validationFailed([
                FieldError(field: "to", code: .outOfRange, message: "A summary covers at most \(maxDays) days.")
            ]))
        }
        return .success(SummaryRange(from: start, to: end))
    }
}
