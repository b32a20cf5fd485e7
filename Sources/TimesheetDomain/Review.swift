import Foundation

extension Timesheet {
    /// The entry with `changes` applied by its owner; only pending entries can change.
    public func applying(_ changes: TimesheetChanges, at now: Date) throws(TimesheetError) -> Timesheet {
        guard status == .pending else { throw .conflict(.notPending(self, action: "edited")) }
        var result = self
        if let date = changes.date { result.date = date }
        if let project = changes.project { result.project = project }
        if let hours = changes.hours { result.hours = hours }
        if let notes = changes.notes { result.notes = notes }
        if result != self { result.updatedAt = now }
        return result
    }

    /// Throws unless the owner may delete the entry now.
    public func checkDeletable() throws(TimesheetError) {
        guard status == .pending else { throw .conflict(.notPending(self, action: "deleted")) }
    }

    /// The entry approved by `reviewer`. Approving an approved entry returns it unchanged; a rejected one is a
    /// conflict.
    public func approved(by reviewer: String, at now: Date) throws(TimesheetError) -> Timesheet {
        switch status {
        case .approved:
            return self
        case .rejected:
            throw .conflict(.notPending(self, action: "approved"))
        case .pending:
            var result = self
            result.status = .approved
            result.reviewedBy = reviewer
            result.reviewedAt = now
            result.updatedAt = now
            return result
        }
    }

    /// The entry rejected by `reviewer`. Rejecting a rejected entry returns it unchanged; an approved one is a
    /// conflict.
    public func rejected(by reviewer: String, reason: String?, at now: Date) throws(TimesheetError) -> Timesheet {
        switch status {
        case .rejected:
            return self
        case .approved:
            throw .conflict(.notPending(self, action: "rejected"))
        case .pending:
            var result = self
            result.status = .rejected
            result.reviewedBy = reviewer
            result.reviewedAt = now
            result.rejectionReason = reason
            result.updatedAt = now
            return result
        }
    }
}
