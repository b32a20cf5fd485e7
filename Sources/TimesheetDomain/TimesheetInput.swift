import Foundation

/// A raw value as a client sent it, before validation.
public enum InputValue: Hashable, Sendable {
    case string(String)
    /// A JSON number, kept as its decimal text so no precision is lost before validation.
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

extension InputValue: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Decimal.self), number.isFinite {
            self = .number(number.description)
        } else {
            self = .unsupported
        }
    }
}

/// A timesheet entry as a client sent it: the JSON body of create, update and batch upload, or a form body.
///
/// Decoding never fails on the fields' contents: wrong types and unknown fields are kept as problems, so
/// validation can report every problem at once.
public struct TimesheetInput: Hashable, Sendable {
    public var userID: InputValue?
    public var date: InputValue?
    public var project: InputValue?
    public var hours: InputValue?
    public var notes: InputValue?
    /// Field names the API does not know, reported as `unknown_field` to catch typos.
    public var unknownFields: [String]

    public init(
        userID: InputValue? = nil, date: InputValue? = nil, project: InputValue? = nil, hours: InputValue? = nil,
        notes: InputValue? = nil, unknownFields: [String] = []
    ) {
        self.userID = userID
        self.date = date
        self.project = project
        self.hours = hours
        self.notes = notes
        self.unknownFields = unknownFields
    }

    /// The field names clients use (snake_case, as in the reference sample).
    public enum Field: String, CaseIterable, Sendable {
        case userID = "user_id"
        case date
        case project
        case hours
        case notes
    }

    /// Builds an input from text fields, as a form body (`application/x-www-form-urlencoded`) carries them.
    public init(form: [(name: String, value: String)]) {
        self.init()
        for (name, value) in form {
            switch Field(rawValue: name) {
            case .userID: userID = .string(value)
            case .date: date = .string(value)
            case .project: project = .string(value)
            case .hours: hours = .string(value)
            case .notes: notes = .string(value)
            case nil: unknownFields.append(name)
            }
        }
    }
}

extension TimesheetInput: Decodable {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        self.init()
        for key in container.allKeys {
            let value = try container.decode(InputValue.self, forKey: key)
            switch Field(rawValue: key.stringValue) {
            case .userID: userID = value
            case .date: date = value
            case .project: project = value
            case .hours: hours = value
            case .notes: notes = value
            case nil: unknownFields.append(key.stringValue)
            }
        }
        unknownFields.sort()
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

/// The input rules, each reported with a stable code and a message a person can act on.
public enum TimesheetRules {
    public static let maxProjectLength = 200
    public static let maxNotesLength = 2_000
    public static let maxUserIDLength = 255
    public static let maxRejectionReasonLength = 1_000
    public static let maxBatchSize = 10_000

    /// Validates a complete entry. `owner` is the caller for their own entries (where `user_id` may be omitted
    /// or must equal it); `nil` for a batch upload, where `user_id` is required.
    public static func validateNew(_ input: TimesheetInput, owner: String?) -> Result<NewTimesheet, TimesheetError> {
        var errors = unknownFieldErrors(input)
        var userID = owner
        if let owner {
            if let value = input.userID, value != .string(owner) {
                errors.append(
                    FieldError(
                        field: "user_id", code: .notAllowed,
                        message: "Entries belong to the caller; omit user_id or send your own id."))
            }
        } else {
            userID = collect(validateUserID(input.userID), into: &errors)
        }
        let date = collect(validateDate(input.date, field: "date"), into: &errors)
        let project = collect(validateProject(input.project), into: &errors)
        let hours = collect(validateHours(input.hours), into: &errors)
        let notes = collect(validateNotes(input.notes), into: &errors)
        guard errors.isEmpty, let userID, let date, let project, let hours, let notes else {
            return .failure(.validationFailed(errors))
        }
        return .success(NewTimesheet(userID: userID, date: date, project: project, hours: hours, notes: notes))
    }

    /// Validates changes to an entry. `replacing` is PUT (date, project and hours required; absent notes are
    /// cleared); otherwise PATCH (only the fields present change, `"notes": null` clears them).
    public static func validateChanges(_ input: TimesheetInput, owner: String, replacing: Bool)
        -> Result<TimesheetChanges, TimesheetError>
    {
        var errors = unknownFieldErrors(input)
        if let value = input.userID, value != .string(owner) {
            errors.append(
                FieldError(field: "user_id", code: .notAllowed, message: "An entry's owner cannot be changed."))
        }
        var changes = TimesheetChanges()
        if replacing || input.date != nil {
            changes.date = collect(validateDate(input.date, field: "date"), into: &errors)
        }
        if replacing || input.project != nil {
            changes.project = collect(validateProject(input.project), into: &errors)
        }
        if replacing || input.hours != nil {
            changes.hours = collect(validateHours(input.hours), into: &errors)
        }
        if replacing || input.notes != nil {
            if let notes = collect(validateNotes(input.notes), into: &errors) { changes.notes = .some(notes) }
        }
        if !replacing, input.date == nil, input.project == nil, input.hours == nil, input.notes == nil, errors.isEmpty {
            errors.append(
                FieldError(
                    field: "", code: .required,
                    message: "Send at least one of date, project, hours or notes to change."))
        }
        return errors.isEmpty ? .success(changes) : .failure(.validationFailed(errors))
    }

    /// Validates the optional reason of a rejection.
    public static func validateRejectionReason(_ value: InputValue?) -> Result<String?, TimesheetError> {
        var errors: [FieldError] = []
        let reason = collect(
            validateOptionalText(value, field: "reason", maxLength: maxRejectionReasonLength), into: &errors)
        guard errors.isEmpty, let reason else { return .failure(.validationFailed(errors)) }
        return .success(reason)
    }

    // MARK: Single fields

    static func validateUserID(_ value: InputValue?) -> Result<String, FieldError> {
        requiredText(value, field: "user_id", maxLength: maxUserIDLength, what: "the id of the user who worked")
    }

    static func validateProject(_ value: InputValue?) -> Result<String, FieldError> {
        requiredText(value, field: "project", maxLength: maxProjectLength, what: "the project worked on")
    }

    static func validateDate(_ value: InputValue?, field: String) -> Result<CalendarDay, FieldError> {
        guard let value, value != .null else {
            return .failure(FieldError(field: field, code: .required, message: "Send the day worked, as YYYY-MM-DD."))
        }
        guard case .string(let text) = value else {
            return .failure(
                FieldError(
                    field: field, code: .invalidType,
                    message: "Expected a date string such as 2017-05-10, got \(value.typeName)."))
        }
        switch CalendarDay.parse(text) {
        case .success(let day):
            return .success(day)
        case .failure(.malformed):
            return .failure(
                FieldError(
                    field: field, code: .invalidDate,
                    message: "Use YYYY-MM-DD or an ISO 8601 date-time such as 2017-05-10T17:40:20Z."))
        case .failure(.outOfRange):
            return .failure(FieldError(field: field, code: .invalidDate, message: "There is no such day or time."))
        case .failure(.missingTimeZone):
            return .failure(
                FieldError(
                    field: field, code: .invalidDate,
                    message: "A date-time needs Z or an offset such as +02:00, so its UTC day is known."))
        }
    }

    static func validateHours(_ value: InputValue?) -> Result<Hours, FieldError> {
        let text: String
        switch value {
        case nil, .null?:
            return .failure(FieldError(field: "hours", code: .required, message: "Send the hours worked, e.g. 7.5."))
        case .number(let number)?:
            text = number
        case .string(let string)?:
            text = string
        case let other?:
            return .failure(
                FieldError(
                    field: "hours", code: .invalidType,
                    message: "Expected a number of hours such as 7.5, got \(other.typeName)."))
        }
        switch Hours.parse(text) {
        case .success(let hours):
            return .success(hours)
        case .failure(.notANumber):
            return .failure(
                FieldError(
                    field: "hours", code: .invalidNumber,
                    message: "Expected a plain decimal number of hours such as 7.5."))
        case .failure(.outOfRange):
            return .failure(
                FieldError(
                    field: "hours", code: .outOfRange,
                    message: "Hours must be greater than 0 and at most \(Hours.dailyLimit)."))
        case .failure(.tooPrecise):
            return .failure(
                FieldError(
                    field: "hours", code: .tooPrecise, message: "Hours may have at most two decimals, e.g. 7.25."))
        }
    }

    static func validateNotes(_ value: InputValue?) -> Result<String?, FieldError> {
        validateOptionalText(value, field: "notes", maxLength: maxNotesLength)
    }

    static func validateOptionalText(_ value: InputValue?, field: String, maxLength: Int) -> Result<String?, FieldError> {
        switch value {
        case nil, .null?:
            return .success(String?.none)
        case .string(let text)?:
            if text.unicodeScalars.count > maxLength {
                return .failure(
                    FieldError(
                        field: field, code: .tooLong, message: "At most \(maxLength) characters are allowed."))
            }
            // Tabs and line breaks are fine in free text; other control characters (NUL among them) are not.
            if text.unicodeScalars.contains(where: { isControl($0) && !["\t", "\n", "\r"].contains($0) }) {
                return .failure(
                    FieldError(
                        field: field, code: .controlCharacters,
                        message: "Remove control characters; only tabs and line breaks are allowed."))
            }
            return .success(text.isEmpty ? nil : text)
        case let other?:
            return .failure(
                FieldError(field: field, code: .invalidType, message: "Expected a string, got \(other.typeName)."))
        }
    }

    static func requiredText(_ value: InputValue?, field: String, maxLength: Int, what: String)
        -> Result<String, FieldError>
    {
        guard let value, value != .null else {
            return .failure(FieldError(field: field, code: .required, message: "Send \(what)."))
        }
        guard case .string(let raw) = value else {
            return .failure(
                FieldError(field: field, code: .invalidType, message: "Expected a string, got \(value.typeName)."))
        }
        let text = String(raw.trimmingUnicodeWhitespace())
        if text.isEmpty {
            return .failure(FieldError(field: field, code: .empty, message: "Send \(what); it cannot be blank."))
        }
        if text.unicodeScalars.contains(where: isControl) {
            return .failure(
                FieldError(field: field, code: .controlCharacters, message: "Remove control characters."))
        }
        if text.unicodeScalars.count > maxLength {
            return .failure(
                FieldError(field: field, code: .tooLong, message: "At most \(maxLength) characters are allowed."))
        }
        return .success(text)
    }

    static func unknownFieldErrors(_ input: TimesheetInput) -> [FieldError] {
        input.unknownFields.map { name in
            FieldError(field: name, code: .unknownField, message: unknownFieldMessage)
        }
    }

    /// Built once and shared: a hostile body can name a hundred thousand unknown fields.
    static let unknownFieldMessage =
        "Unknown field; the fields are " + TimesheetInput.Field.allCases.map(\.rawValue).joined(separator: ", ") + "."


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
