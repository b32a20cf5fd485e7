import Foundation
import TimesheetDomain

/// The fields of an entry as clients name them on the wire (snake_case, as in the reference sample).
enum EntryField: String, CaseIterable, Sendable {
    case userID = "user_id"
    case date
    case project
    case hours
    case notes
}

/// An entry's body, a JSON object or a form, read into the domain's ``TimesheetInput`` under the wire names.
///
/// Reading never fails on the fields' contents: values of the wrong type are handed on for validation, and fields
/// it does not know become `unknown_field` errors that validation reports with its own.
struct EntryBody: Decodable, Sendable {
    private(set) var input = TimesheetInput(
        userID: InputField(EntryField.userID.rawValue, nil),
        date: InputField(EntryField.date.rawValue, nil),
        project: InputField(EntryField.project.rawValue, nil),
        hours: InputField(EntryField.hours.rawValue, nil),
        notes: InputField(EntryField.notes.rawValue, nil)
    )

    /// Text fields, as a form body (`application/x-www-form-urlencoded`) carries them, in the form's order.
    init(form: [(name: String, value: String)]) {
        for (name, value) in form { read(name, .string(value)) }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys {
            read(key.stringValue, try container.decode(JSONValue.self, forKey: key).value)
        }
        // Unknown fields are reported in name order, whatever order the object had.
        input.readingErrors.sort { $0.field < $1.field }
    }

    private mutating func read(_ name: String, _ value: InputValue) {
        switch EntryField(rawValue: name) {
        case .userID: input.userID.value = value
        case .date: input.date.value = value
        case .project: input.project.value = value
        case .hours: input.hours.value = value
        case .notes: input.notes.value = value
        case nil:
            input.readingErrors.append(FieldError(field: name, code: .unknownField, message: Self.unknownFieldMessage))
        }
    }

    /// Built once and shared: a hostile body can name a hundred thousand unknown fields.
    static let unknownFieldMessage =
        "Unknown field; the fields are " + EntryField.allCases.map(\.rawValue).joined(separator: ", ") + "."
}

/// Any JSON value, read as the domain's ``InputValue`` (a raw value as the client sent it).
struct JSONValue: Decodable, Sendable {
    var value: InputValue

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let text = try? container.decode(String.self) {
            value = .string(text)
        } else if let number = try? container.decode(Decimal.self), number.isFinite {
            // The decimal text, so no precision is lost before validation. Numbers before booleans: `hours` is the
            // one number of a usual body, and each refused guess costs a DecodingError.
            value = .number(number.description)
        } else if let bool = try? container.decode(Bool.self) {
            value = .bool(bool)
        } else {
            value = .unsupported
        }
    }
}

/// The keys of an object whose keys are not known in advance.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
