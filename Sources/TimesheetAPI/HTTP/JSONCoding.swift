import Foundation
import TimesheetDomain

extension JSONEncoder {
    /// The API's encoder: ISO 8601 timestamps with milliseconds, stable key order.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }
}

/// An entry as the API shows it: snake_case fields as in the reference sample, plus `approved` for its clients.
struct TimesheetResponse: Encodable, Sendable {
    var id: Int64
    var userID: String
    var date: CalendarDay
    var project: String
    var hours: Hours
    var notes: String?
    var status: String
    var approved: Bool
    var createdAt: Date
    var updatedAt: Date
    var reviewedBy: String?
    var reviewedAt: Date?
    var rejectionReason: String?
    var createdBy: String

    init(_ entry: Timesheet) {
        id = entry.id.rawValue
        userID = entry.userID
        date = entry.date
        project = entry.project
        hours = entry.hours
        notes = entry.notes
        status = entry.status.rawValue
        approved = entry.isApproved
        createdAt = entry.createdAt
        updatedAt = entry.updatedAt
        reviewedBy = entry.reviewedBy
        reviewedAt = entry.reviewedAt
        rejectionReason = entry.rejectionReason
        createdBy = entry.createdBy
    }

    enum CodingKeys: String, CodingKey {
        case id, date, project, hours, notes, status, approved
        case userID = "user_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case reviewedBy = "reviewed_by"
        case reviewedAt = "reviewed_at"
        case rejectionReason = "rejection_reason"
        case createdBy = "created_by"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(userID, forKey: .userID)
        try container.encode(date.description, forKey: .date)
        try container.encode(project, forKey: .project)
        try container.encode(hours.value, forKey: .hours)
        try container.encode(notes, forKey: .notes)
        try container.encode(status, forKey: .status)
        try container.encode(approved, forKey: .approved)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(reviewedBy, forKey: .reviewedBy)
        try container.encode(reviewedAt, forKey: .reviewedAt)
        try container.encode(rejectionReason, forKey: .rejectionReason)
        try container.encode(createdBy, forKey: .createdBy)
    }
}

struct PageResponse: Encodable, Sendable {
    var items: [TimesheetResponse]
    var nextCursor: String?

    init(_ page: TimesheetPage) {
        items = page.items.map(TimesheetResponse.init)
        nextCursor = page.nextCursor.map(CursorToken.encode)
    }

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

struct SummaryResponse: Encodable, Sendable {
    struct Week: Encodable, Sendable {
        var week: String
        var weekStart: String
        var project: String
        var hours: Double
        enum CodingKeys: String, CodingKey {
            case week, project, hours
            case weekStart = "week_start"
        }
    }
    var from: String
    var to: String
    var weeks: [Week]

    init(range: SummaryRange, weeks: [WeeklyProjectHours]) {
        from = range.from.description
        to = range.to.description
        self.weeks = weeks.map {
            Week(week: $0.weekLabel, weekStart: $0.weekStart.description, project: $0.project, hours: $0.hours.value)
        }
    }
}

/// `GET /timesheets/{id}/history`: `{"items": [{"action", "actor", "at", ...}]}`, oldest first. An `updated` item
/// also holds `before` and `after` with the fields the edit changed (`date`, `project`, `hours`, `notes`); a
/// `rejected` one holds the `reason` (null without one).
struct HistoryResponse: Encodable, Sendable {
    var items: [Item]

    init(_ events: [TimesheetEvent]) {
        items = events.map(Item.init)
    }

    struct Item: Encodable, Sendable {
        var action: String
        var actor: String
        var at: Date
        var before: ChangedFields?
        var after: ChangedFields?
        var reason: String?
        var hasReason: Bool

        init(_ event: TimesheetEvent) {
            action = event.action.rawValue
            actor = event.actor
            at = event.at
            if let before = event.before, let after = event.after {
                self.before = ChangedFields(before, comparedWith: after)
                self.after = ChangedFields(after, comparedWith: before)
            }
            reason = event.reason
            hasReason = event.action == .rejected
        }

        enum CodingKeys: String, CodingKey {
            case action, actor, at, before, after, reason
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(action, forKey: .action)
            try container.encode(actor, forKey: .actor)
            try container.encode(at, forKey: .at)
            try container.encodeIfPresent(before, forKey: .before)
            try container.encodeIfPresent(after, forKey: .after)
            if hasReason { try container.encode(reason, forKey: .reason) }
        }
    }

    /// The editable fields of one side of an edit that differ from the other side, under their wire names.
    struct ChangedFields: Encodable, Sendable {
        var date: String?
        var project: String?
        var hours: Double?
        /// `.some(nil)`: the notes were (or became) empty.
        var notes: String??

        init(_ fields: EditableFields, comparedWith other: EditableFields) {
            if fields.date != other.date { date = fields.date.description }
            if fields.project != other.project { project = fields.project }
            if fields.hours != other.hours { hours = fields.hours.value }
            if fields.notes != other.notes { notes = .some(fields.notes) }
        }

        enum CodingKeys: String, CodingKey {
            case date, project, hours, notes
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(date, forKey: .date)
            try container.encodeIfPresent(project, forKey: .project)
            try container.encodeIfPresent(hours, forKey: .hours)
            if let notes { try container.encode(notes, forKey: .notes) }
        }
    }
}
