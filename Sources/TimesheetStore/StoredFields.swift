import Foundation
import TimesheetDomain

/// How `timesheet_events.before` and `after` hold an entry's editable fields: the store's own JSON, with hours in
/// exact hundredths (`{"date": "2017-05-10", "project": "P", "hundredths": 500, "notes": null}`).
struct StoredFields: Codable, Equatable {
    var date: String
    var project: String
    var hundredths: Int
    var notes: String?

    init(_ fields: EditableFields) {
        date = fields.date.description
        project = fields.project
        hundredths = fields.hours.hundredths
        notes = fields.notes
    }

    /// The JSON text to bind as `jsonb`; `nil` for no fields.
    static func json(_ fields: EditableFields?) throws -> String? {
        guard let fields else { return nil }
        return String(decoding: try JSONEncoder().encode(StoredFields(fields)), as: UTF8.self)
    }

    /// The fields `json` holds; `nil` for SQL NULL.
    static func fields(_ json: String?) throws -> EditableFields? {
        guard let json else { return nil }
        let stored = try JSONDecoder().decode(StoredFields.self, from: Data(json.utf8))
        guard case .success(let date) = CalendarDay.parse(stored.date) else {
            throw StoreError.unexpected(underlying: UnreadableFields(json: json))
        }
        return EditableFields(
            date: date,
            project: stored.project,
            hours: Hours(hundredths: stored.hundredths),
            notes: stored.notes
        )
    }

    private struct UnreadableFields: Error {
        var json: String
    }
}
