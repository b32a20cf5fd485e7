import Foundation

/// A server-assigned entry id: positive, stable, never reused.
public struct TimesheetID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: TimesheetID, rhs: TimesheetID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses a path segment: decimal digits only, positive, within 64 bits.
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.count <= 19,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int64(text), value > 0
        else { return nil }
        self.rawValue = value
    }
}

/// Where an entry is in review.
public enum TimesheetStatus: String, Sendable, CaseIterable {
    case pending
    case approved
    case rejected
}

/// One timesheet entry: who worked, on which day, on what, for how long, and how review went.
public struct Timesheet: Hashable, Sendable {
    public var id: TimesheetID
    /// The owner, as the access token identifies them (`sub` or an email claim).
    public var userID: String
    public var date: CalendarDay
    public var project: String
    public var hours: Hours
    public var notes: String?
    public var status: TimesheetStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var reviewedBy: String?
    public var reviewedAt: Date?
    public var rejectionReason: String?
    /// Who recorded the entry: the owner, or the machine client (its `sub`) that uploaded it.
    public var createdBy: String

    public init(
        id: TimesheetID,
        userID: String,
        date: CalendarDay,
        project: String,
        hours: Hours,
        notes: String? = nil,
        status: TimesheetStatus = .pending,
        createdAt: Date,
        updatedAt: Date,
        reviewedBy: String? = nil,
        reviewedAt: Date? = nil,
        rejectionReason: String? = nil,
        createdBy: String? = nil
    ) {
        self.id = id
        self.userID = userID
        self.date = date
        self.project = project
        self.hours = hours
        self.notes = notes
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.reviewedBy = reviewedBy
        self.reviewedAt = reviewedAt
        self.rejectionReason = rejectionReason
        self.createdBy = createdBy ?? userID
    }

    /// The reference sample's flag.
    public var isApproved: Bool { status == .approved }
}

/// A validated entry not yet stored: the repository assigns id and timestamps.
public struct NewTimesheet: Hashable, Sendable {
    public var userID: String
    public var date: CalendarDay
    public var project: String
    public var hours: Hours
    public var notes: String?
    /// Who records it: the caller (the owner, or a machine client uploading for others).
    public var createdBy: String

    /// `createdBy` defaults to the owner.
    public init(
        userID: String,
        date: CalendarDay,
        project: String,
        hours: Hours,
        notes: String? = nil,
        createdBy: String? = nil
    ) {
        self.userID = userID
        self.date = date
        self.project = project
        self.hours = hours
        self.notes = notes
        self.createdBy = createdBy ?? userID
    }

    /// The entry as stored with `id` at `now`.
    public func stored(as id: TimesheetID, at now: Date) -> Timesheet {
        Timesheet(
            id: id,
            userID: userID,
            date: date,
            project: project,
            hours: hours,
            notes: notes,
            createdAt: now,
            updatedAt: now,
            createdBy: createdBy
        )
    }
}

/// One user's day, the unit of the 24-hour cap.
public struct UserDay: Hashable, Sendable, CustomStringConvertible {
    public var userID: String
    public var date: CalendarDay
    public init(userID: String, date: CalendarDay) {
        self.userID = userID
        self.date = date
    }
    public var description: String { "\(userID) on \(date)" }
}
