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

    /// Validates `limit` (a whole number from 1 to 500; 50 when absent) for a page that starts after `cursor`.
    ///
    /// The cursor arrives as a position: reading it from whatever a client holds (and refusing what it cannot read)
    /// is the caller's job.
    public static func validate(
        limit: InputField,
        after cursor: TimesheetCursor? = nil
    )
        -> Result<PageRequest, TimesheetError>
    {
        var request = PageRequest(cursor: cursor)
        guard let value = limit.value else { return .success(request) }
        switch value {
        case .string(let text), .number(let text):
            if let number = Int(text), (1...maxLimit).contains(number) {
                request.limit = number
                return .success(request)
            }
        case .bool, .null, .unsupported:
            break
        }
        return .failure(
            .validationFailed([
                FieldError(
                    field: limit.name,
                    code: .outOfRange,
                    message: "Use a whole number from 1 to \(maxLimit)."
                )
            ])
        )
    }
}

/// The filters of a user's own list, validated.
public struct TimesheetFilter: Hashable, Sendable {
    public var from: CalendarDay?
    public var to: CalendarDay?
    public var project: String?
    public var status: TimesheetStatus?

    public init(
        from: CalendarDay? = nil,
        to: CalendarDay? = nil,
        project: String? = nil,
        status: TimesheetStatus? = nil
    ) {
        self.from = from
        self.to = to
        self.project = project
        self.status = status
    }

    /// Validates the filters together: `from` and `to` are days with `from <= to`, `project` a project name and
    /// `status` one of ``TimesheetStatus``; an absent field does not filter.
    public static func validate(
        from: InputField,
        to: InputField,
        project: InputField,
        status: InputField
    )
        -> Result<TimesheetFilter, TimesheetError>
    {
        var errors: [FieldError] = []
        var filter = TimesheetFilter()
        let range = validateRange(from: from, to: to, errors: &errors)
        filter.from = range.from
        filter.to = range.to
        if project.value != nil {
            filter.project = TimesheetRules.collect(TimesheetRules.validateProject(project), into: &errors)
        }
        if let value = status.value {
            if case .string(let text) = value, let known = TimesheetStatus(rawValue: text) {
                filter.status = known
            } else {
                errors.append(
                    FieldError(
                        field: status.name,
                        code: .invalidValue,
                        message: "Use one of " + TimesheetStatus.allCases.map(\.rawValue).joined(separator: ", ") + "."
                    )
                )
            }
        }
        return errors.isEmpty ? .success(filter) : .failure(.validationFailed(errors))
    }

    static func validateRange(
        from: InputField,
        to: InputField,
        errors: inout [FieldError]
    )
        -> (from: CalendarDay?, to: CalendarDay?)
    {
        let start = from.value == nil ? nil : TimesheetRules.collect(TimesheetRules.validateDate(from), into: &errors)
        let end = to.value == nil ? nil : TimesheetRules.collect(TimesheetRules.validateDate(to), into: &errors)
        if let start, let end, start > end {
            errors.append(
                FieldError(field: to.name, code: .outOfRange, message: "\(to.name) must not be before \(from.name).")
            )
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
    public static func validate(
        from: InputField,
        to: InputField,
        today: CalendarDay
    )
        -> Result<SummaryRange, TimesheetError>
    {
        var errors: [FieldError] = []
        let range = TimesheetFilter.validateRange(from: from, to: to, errors: &errors)
        guard errors.isEmpty else { return .failure(.validationFailed(errors)) }
        let end = range.to ?? today
        let start = range.from ?? end.startOfISOWeek.adding(days: -7 * (defaultWeeks - 1))
        if start > end {
            return .failure(
                .validationFailed([
                    FieldError(
                        field: from.name,
                        code: .outOfRange,
                        message: "\(from.name) must not be after \(to.name)."
                    )
                ])
            )
        }
        if end.daysSinceEpoch - start.daysSinceEpoch >= maxDays {
            return .failure(
                .validationFailed([
                    FieldError(field: to.name, code: .outOfRange, message: "A summary covers at most \(maxDays) days.")
                ])
            )
        }
        return .success(SummaryRange(from: start, to: end))
    }
}
