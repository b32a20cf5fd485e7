import Foundation

/// A raw value as a client sent it, before validation.
public enum InputValue: Hashable, Sendable {
    case string(String)
    /// A number, kept as its decimal text so no precision is lost before validation.
    case number(String)
    case bool(Bool)
    case null
    /// An object or array, or a number too large to represent.
    case unsupported

    var typeName: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .unsupported: "an object, an array or an unrepresentable number"
        }
    }
}

/// One field as a client sent it: the name the client gave it and its raw value (`nil` when it was absent).
///
/// The domain has no wire names of its own. It reports every problem with a field under the name the field
/// arrived with, and a message that mentions another field uses that field's name too, so errors read in the
/// client's own terms (`user_id` over HTTP, `[3].user_id` in item 3 of a batch).
public struct InputField: Hashable, Sendable {
    /// The name the client used, such as `user_id` or `from`.
    public var name: String
    public var value: InputValue?

    public init(_ name: String, _ value: InputValue?) {
        self.name = name
        self.value = value
    }
}

/// A timesheet entry as a client sent it (the body of create, update and batch upload), before validation.
///
/// Reading a body never fails on the fields' contents: wrong types are kept as values and checked here, and problems
/// the reader found on its own (a field it does not know) travel in ``readingErrors``, so validation can report
/// every problem at once.
public struct TimesheetInput: Hashable, Sendable {
    public var userID: InputField
    public var date: InputField
    public var project: InputField
    public var hours: InputField
    public var notes: InputField
    /// Problems the reader found before validation, in the client's terms (such as an `unknown_field`); reported
    /// first, with validation's own.
    public var readingErrors: [FieldError]

    /// An input whose fields carry the names the client used for them.
    public init(
        userID: InputField,
        date: InputField,
        project: InputField,
        hours: InputField,
        notes: InputField,
        readingErrors: [FieldError] = []
    ) {
        self.userID = userID
        self.date = date
        self.project = project
        self.hours = hours
        self.notes = notes
        self.readingErrors = readingErrors
    }

    /// An input named by the domain's own property names (`userID`, `date`, `project`, `hours`, `notes`), for
    /// callers without a wire format of their own, such as tests.
    public init(
        userID: InputValue? = nil,
        date: InputValue? = nil,
        project: InputValue? = nil,
        hours: InputValue? = nil,
        notes: InputValue? = nil
    ) {
        self.init(
            userID: InputField("userID", userID),
            date: InputField("date", date),
            project: InputField("project", project),
            hours: InputField("hours", hours),
            notes: InputField("notes", notes)
        )
    }
}

/// Changes to an entry: `nil` leaves a field as it is.
public struct TimesheetChanges: Hashable, Sendable {
    public var date: CalendarDay?
    public var project: String?
    public var hours: Hours?
    /// `.some(nil)` clears the notes.
    public var notes: String??

    public init(date: CalendarDay? = nil, project: String? = nil, hours: Hours? = nil, notes: String?? = nil) {
        self.date = date
        self.project = project
        self.hours = hours
        self.notes = notes
    }
}

/// The input rules, each reported with a stable code and a message a person can act on, under the name the field
/// arrived with (see ``InputField``).
public enum TimesheetRules {
    public static let maxProjectLength = 200
    public static let maxNotesLength = 2_000
    public static let maxUserIDLength = 255
    public static let maxRejectionReasonLength = 1_000
    public static let maxBatchSize = 10_000

    /// Validates a complete entry. `owner` is the caller for their own entries (where the user id may be omitted
    /// or must equal it); `nil` for a batch upload, where the user id is required.
    public static func validateNew(_ input: TimesheetInput, owner: String?) -> Result<NewTimesheet, TimesheetError> {
        var errors = input.readingErrors
        var userID = owner
        if let owner {
            if let value = input.userID.value, value != .string(owner) {
                errors.append(
                    FieldError(
                        field: input.userID.name,
                        code: .notAllowed,
                        message: "Entries belong to the caller; omit \(input.userID.name) or send your own id."
                    )
                )
            }
        } else {
            userID = collect(validateUserID(input.userID), into: &errors)
        }
        let date = collect(validateDate(input.date), into: &errors)
        let project = collect(validateProject(input.project), into: &errors)
        let hours = collect(validateHours(input.hours), into: &errors)
        let notes = collect(validateNotes(input.notes), into: &errors)
        guard errors.isEmpty, let userID, let date, let project, let hours, let notes else {
            return .failure(.validationFailed(errors))
        }
        return .success(NewTimesheet(userID: userID, date: date, project: project, hours: hours, notes: notes))
    }

    /// Validates changes to an entry. `replacing` is PUT (date, project and hours required; absent notes are
    /// cleared); otherwise PATCH (only the fields present change, null notes clear them).
    public static func validateChanges(
        _ input: TimesheetInput,
        owner: String,
        replacing: Bool
    )
        -> Result<TimesheetChanges, TimesheetError>
    {
        var errors = input.readingErrors
        if let value = input.userID.value, value != .string(owner) {
            errors.append(
                FieldError(field: input.userID.name, code: .notAllowed, message: "An entry's owner cannot be changed.")
            )
        }
        var changes = TimesheetChanges()
        if replacing || input.date.value != nil {
            changes.date = collect(validateDate(input.date), into: &errors)
        }
        if replacing || input.project.value != nil {
            changes.project = collect(validateProject(input.project), into: &errors)
        }
        if replacing || input.hours.value != nil {
            changes.hours = collect(validateHours(input.hours), into: &errors)
        }
        if replacing || input.notes.value != nil {
            if let notes = collect(validateNotes(input.notes), into: &errors) { changes.notes = .some(notes) }
        }
        if !replacing, input.date.value == nil, input.project.value == nil, input.hours.value == nil,
            input.notes.value == nil, errors.isEmpty
        {
            let names = [input.date, input.project, input.hours, input.notes].map(\.name)
            errors.append(
                FieldError(
                    field: "",
                    code: .required,
                    message: "Send at least one of \(names[0]), \(names[1]), \(names[2]) or \(names[3]) to change."
                )
            )
        }
        return errors.isEmpty ? .success(changes) : .failure(.validationFailed(errors))
    }

    /// Validates the optional reason of a rejection.
    public static func validateRejectionReason(_ field: InputField) -> Result<String?, TimesheetError> {
        var errors: [FieldError] = []
        let reason = collect(validateOptionalText(field, maxLength: maxRejectionReasonLength), into: &errors)
        guard errors.isEmpty, let reason else { return .failure(.validationFailed(errors)) }
        return .success(reason)
    }

    // MARK: Single fields

    static func validateUserID(_ field: InputField) -> Result<String, FieldError> {
        requiredText(field, maxLength: maxUserIDLength, what: "the id of the user who worked")
    }

    static func validateProject(_ field: InputField) -> Result<String, FieldError> {
        requiredText(field, maxLength: maxProjectLength, what: "the project worked on")
    }

    static func validateDate(_ field: InputField) -> Result<CalendarDay, FieldError> {
        guard let value = field.value, value != .null else {
            return .failure(
                FieldError(field: field.name, code: .required, message: "Send the day worked, as YYYY-MM-DD.")
            )
        }
        guard case .string(let text) = value else {
            return .failure(
                FieldError(
                    field: field.name,
                    code: .invalidType,
                    message: "Expected a date string such as 2017-05-10, got \(value.typeName)."
                )
            )
        }
        switch CalendarDay.parse(text) {
        case .success(let day):
            return .success(day)
        case .failure(.malformed):
            return .failure(
                FieldError(
                    field: field.name,
                    code: .invalidDate,
                    message: "Use YYYY-MM-DD or an ISO 8601 date-time such as 2017-05-10T17:40:20Z."
                )
            )
        case .failure(.outOfRange):
            return .failure(FieldError(field: field.name, code: .invalidDate, message: "There is no such day or time."))
        case .failure(.missingTimeZone):
            return .failure(
                FieldError(
                    field: field.name,
                    code: .invalidDate,
                    message: "A date-time needs Z or an offset such as +02:00, so its UTC day is known."
                )
            )
        }
    }

    static func validateHours(_ field: InputField) -> Result<Hours, FieldError> {
        let text: String
        switch field.value {
        case nil, .null?:
            return .failure(
                FieldError(field: field.name, code: .required, message: "Send the hours worked, e.g. 7.5.")
            )
        case .number(let number)?:
            text = number
        case .string(let string)?:
            text = string
        case let other?:
            return .failure(
                FieldError(
                    field: field.name,
                    code: .invalidType,
                    message: "Expected a number of hours such as 7.5, got \(other.typeName)."
                )
            )
        }
        switch Hours.parse(text) {
        case .success(let hours):
            return .success(hours)
        case .failure(.notANumber):
            return .failure(
                FieldError(
                    field: field.name,
                    code: .invalidNumber,
                    message: "Expected a plain decimal number of hours such as 7.5."
                )
            )
        case .failure(.outOfRange):
            return .failure(
                FieldError(
                    field: field.name,
                    code: .outOfRange,
                    message: "Hours must be greater than 0 and at most \(Hours.dailyLimit)."
                )
            )
        case .failure(.tooPrecise):
            return .failure(
                FieldError(
                    field: field.name,
                    code: .tooPrecise,
                    message: "Hours may have at most two decimals, e.g. 7.25."
                )
            )
        }
    }

    static func validateNotes(_ field: InputField) -> Result<String?, FieldError> {
        validateOptionalText(field, maxLength: maxNotesLength)
    }

    static func validateOptionalText(_ field: InputField, maxLength: Int) -> Result<String?, FieldError> {
        switch field.value {
        case nil, .null?:
            return .success(String?.none)
        case .string(let text)?:
            if text.unicodeScalars.count > maxLength {
                return .failure(
                    FieldError(
                        field: field.name,
                        code: .tooLong,
                        message: "At most \(maxLength) characters are allowed."
                    )
                )
            }
            // Tabs and line breaks are fine in free text; other control characters (NUL among them) are not.
            if text.unicodeScalars.contains(where: { isControl($0) && !["\t", "\n", "\r"].contains($0) }) {
                return .failure(
                    FieldError(
                        field: field.name,
                        code: .controlCharacters,
                        message: "Remove control characters; only tabs and line breaks are allowed."
                    )
                )
            }
            return .success(text.isEmpty ? nil : text)
        case let other?:
            return .failure(
                FieldError(field: field.name, code: .invalidType, message: "Expected a string, got \(other.typeName).")
            )
        }
    }

    static func requiredText(_ field: InputField, maxLength: Int, what: String) -> Result<String, FieldError> {
        guard let value = field.value, value != .null else {
            return .failure(FieldError(field: field.name, code: .required, message: "Send \(what)."))
        }
        guard case .string(let raw) = value else {
            return .failure(
                FieldError(field: field.name, code: .invalidType, message: "Expected a string, got \(value.typeName).")
            )
        }
        let text = String(raw.trimmingUnicodeWhitespace())
        if text.isEmpty {
            return .failure(FieldError(field: field.name, code: .empty, message: "Send \(what); it cannot be blank."))
        }
        if text.unicodeScalars.contains(where: isControl) {
            return .failure(
                FieldError(field: field.name, code: .controlCharacters, message: "Remove control characters.")
            )
        }
        if text.unicodeScalars.count > maxLength {
            return .failure(
                FieldError(field: field.name, code: .tooLong, message: "At most \(maxLength) characters are allowed.")
            )
        }
        return .success(text)
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }

    static func collect<Value>(_ result: Result<Value, FieldError>, into errors: inout [FieldError]) -> Value? {
        switch result {
        case .success(let value): return value
        case .failure(let error):
            errors.append(error)
            return nil
        }
    }
}

extension String {
    func trimmingUnicodeWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return self[start...end]
    }
}
