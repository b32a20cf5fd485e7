import Foundation

/// What happened to an entry.
public enum TimesheetAction: String, Hashable, Sendable, CaseIterable {
    case created
    case updated
    case approved
    case rejected
    case deleted
}

/// The fields an owner edits, as they were at one moment: an `updated` event holds them before and after the edit.
public struct EditableFields: Hashable, Sendable {
    public var date: CalendarDay
    public var project: String
    public var hours: Hours
    public var notes: String?

    public init(date: CalendarDay, project: String, hours: Hours, notes: String?) {
        self.date = date
        self.project = project
        self.hours = hours
        self.notes = notes
    }

    public init(_ entry: Timesheet) {
        self.init(date: entry.date, project: entry.project, hours: entry.hours, notes: entry.notes)
    }
}

/// One change of an entry: who did what, and when. A repository writes it in the same atomic step as the change.
public struct TimesheetEvent: Hashable, Sendable {
    public var entryID: TimesheetID
    /// The entry's owner, kept on every event so that a deleted entry's history still knows whose it was.
    public var ownerID: String
    public var action: TimesheetAction
    /// Who made the change: the caller's id (a machine client's `sub` for a batch upload).
    public var actor: String
    public var at: Date
    /// For ``TimesheetAction/updated``: the editable fields before and after the edit.
    public var before: EditableFields?
    public var after: EditableFields?
    /// For ``TimesheetAction/rejected``: the reason the reviewer gave, if any.
    public var reason: String?

    public init(
        entryID: TimesheetID,
        ownerID: String,
        action: TimesheetAction,
        actor: String,
        at: Date,
        before: EditableFields? = nil,
        after: EditableFields? = nil,
        reason: String? = nil
    ) {
        self.entryID = entryID
        self.ownerID = ownerID
        self.action = action
        self.actor = actor
        self.at = at
        self.before = before
        self.after = after
        self.reason = reason
    }

    /// The creation of `entry`, by whoever its ``Timesheet/createdBy`` names.
    public static func created(_ entry: Timesheet) -> TimesheetEvent {
        TimesheetEvent(
            entryID: entry.id,
            ownerID: entry.userID,
            action: .created,
            actor: entry.createdBy,
            at: entry.createdAt
        )
    }

    /// What `before` becoming `after` was: an approval, a rejection or an edit; `nil` when nothing changed.
    public static func change(from before: Timesheet, to after: Timesheet, by actor: String) -> TimesheetEvent? {
        guard before != after else { return nil }
        var event = TimesheetEvent(
            entryID: after.id,
            ownerID: after.userID,
            action: .updated,
            actor: actor,
            at: after.updatedAt
        )
        switch (before.status, after.status) {
        case (.pending, .approved):
            event.action = .approved
            event.at = after.reviewedAt ?? after.updatedAt
        case (.pending, .rejected):
            event.action = .rejected
            event.at = after.reviewedAt ?? after.updatedAt
            event.reason = after.rejectionReason
        default:
            event.before = EditableFields(before)
            event.after = EditableFields(after)
        }
        return event
    }

    /// The deletion of `entry` by `actor` at `now`.
    public static func deleted(_ entry: Timesheet, by actor: String, at now: Date) -> TimesheetEvent {
        TimesheetEvent(entryID: entry.id, ownerID: entry.userID, action: .deleted, actor: actor, at: now)
    }
}
