/// One problem with one input field, reported with every other problem at once.
public struct FieldError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The field as the client named it (the ``InputField/name`` it arrived with, such as `hours` or `user_id`),
    /// prefixed by the item for batches (`[3].hours`).
    public var field: String
    /// A stable machine-readable code such as `required` or `out_of_range`.
    public var code: Code
    /// A sentence a person can act on.
    public var message: String

    public init(field: String, code: Code, message: String) {
        self.field = field
        self.code = code
        self.message = message
    }

    public var description: String { "\(field): \(message) (\(code.rawValue))" }

    /// The stable codes clients can switch on.
    public enum Code: String, Sendable, CaseIterable {
        case required
        case invalidType = "invalid_type"
        case invalidDate = "invalid_date"
        case invalidNumber = "invalid_number"
        case outOfRange = "out_of_range"
        case tooPrecise = "too_precise"
        case empty
        case tooLong = "too_long"
        case controlCharacters = "control_characters"
        case unknownField = "unknown_field"
        case notAllowed = "not_allowed"
        case invalidValue = "invalid_value"
        case invalidCursor = "invalid_cursor"
        case tooMany = "too_many"
        /// A report grouping that names no known dimension.
        case unknownGrouping = "unknown_grouping"
        /// A report grouping that names one dimension twice.
        case duplicateGrouping = "duplicate_grouping"
    }

    /// The same problem, attributed to item `index` of a batch.
    public func inItem(_ index: Int) -> FieldError {
        FieldError(field: "[\(index)]" + (field.isEmpty ? "" : "." + field), code: code, message: message)
    }
}

/// The closed set of ways a use case refuses, which the server maps to HTTP.
public enum TimesheetError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input breaks one or more rules; nothing was changed.
    case validationFailed([FieldError])
    /// No such entry, or not one the caller may see.
    case notFound(TimesheetID)
    /// The request is valid but contradicts the entry's current state.
    case conflict(Conflict)
    /// The caller lacks the permission the use case needs.
    case forbidden(missing: Permission)
    /// An idempotency key the caller already used for another request (another body or operation); nothing was
    /// changed.
    case idempotencyKeyReused(key: String)

    public var description: String {
        switch self {
        case .validationFailed(let errors): "Validation failed: " + errors.map(\.description).joined(separator: "; ")
        case .notFound(let id): "Timesheet \(id) was not found."
        case .conflict(let conflict): conflict.message
        case .forbidden(let permission): "This needs the \(permission) permission."
        case .idempotencyKeyReused(let key): "The idempotency key '\(key)' was already used for another request."
        }
    }
}

/// Why a valid request cannot be applied now.
public struct Conflict: Hashable, Sendable {
    public enum Code: String, Sendable {
        /// The entry was approved or rejected and can no longer be edited, deleted or re-reviewed that way.
        case notPending = "not_pending"
        /// The user's entries on one day would exceed 24 hours.
        case dailyLimitExceeded = "daily_limit_exceeded"
        /// A reviewer tried to approve or reject their own entry.
        case selfReview = "self_review"
    }
    public var code: Code
    public var message: String
    /// For ``Code/dailyLimitExceeded``: which user-day, and the hours the request would add to it.
    public var exceededDay: ExceededDay?

    /// The user-day a ``Code/dailyLimitExceeded`` conflict is about, kept so the message can be told again without
    /// that user's recorded hours (``withoutRecordedHours()``).
    public struct ExceededDay: Hashable, Sendable {
        public var day: UserDay
        public var adding: Hours
    }

    public init(code: Code, message: String, exceededDay: ExceededDay? = nil) {
        self.code = code
        self.message = message
        self.exceededDay = exceededDay
    }

    static func notPending(_ entry: Timesheet, action: String) -> Conflict {
        Conflict(
            code: .notPending,
            message: "Timesheet \(entry.id) is \(entry.status.rawValue) and can no longer be \(action); "
                + "only pending entries can."
        )
    }

    static let selfReview = Conflict(
        code: .selfReview,
        message: "Entries are reviewed by someone else: you cannot approve or reject your own."
    )

    static func dailyLimitExceeded(_ day: UserDay, recorded: Hours, adding: Hours) -> Conflict {
        Conflict(
            code: .dailyLimitExceeded,
            message: "\(day.userID) already has \(recorded) hours on \(day.date); "
                + "adding \(adding) would exceed the \(Hours.dailyLimit)-hour daily limit.",
            exceededDay: ExceededDay(day: day, adding: adding)
        )
    }

    /// The same refusal without the hours already recorded on the day: what a caller is told about a day that is
    /// not their own. (The hours the request adds are the caller's own to know.)
    public func withoutRecordedHours() -> Conflict {
        guard let exceededDay else { return self }
        let (day, adding) = (exceededDay.day, exceededDay.adding)
        let message =
            adding > Hours.dailyLimit
            ? "The entries for \(day.userID) on \(day.date) add up to \(adding) hours, "
                + "more than the \(Hours.dailyLimit)-hour daily limit; "
                + "send at most \(Hours.dailyLimit) per user and day."
            : "Adding \(adding) hours for \(day.userID) on \(day.date) would exceed the \(Hours.dailyLimit)-hour daily "
                + "limit together with the hours already recorded that day (only that user can see them); "
                + "send fewer hours for that day."
        return Conflict(code: code, message: message, exceededDay: exceededDay)
    }
}
