import Foundation
import TimesheetDomain

/// A few weeks of realistic entries for the seeded users, added once.
enum DevSeed {
    static let projects = ["StoreZero", "Mobile App", "Payroll Sync", "Internal"]

    /// The entries: weekdays of the last four weeks before `today`, one or two projects a day.
    static func entries(today: CalendarDay) -> [NewTimesheet] {
        var entries: [NewTimesheet] = []
        for (index, account) in DevAccount.people.enumerated() {
            for offset in 1...28 {
                let day = today.adding(days: -offset)
                guard day.isoWeekday <= 5 else { continue }
                let main = projects[(offset + index) % projects.count]
                entries.append(NewTimesheet(userID: account.subject, date: day, project: main, hours: Hours(hundredths: 600 + 25 * ((offset + index) % 5))))
                if offset % 3 == 0 {
                    entries.append(NewTimesheet(userID: account.subject, date: day, project: "Internal", hours: Hours(hundredths: 150), notes: "Team meeting"))
                }
            }
        }
        return entries
    }

    /// Adds the entries unless the seeded users already have any; returns how many were added.
    static func run(_ repository: some TimesheetRepository, today: CalendarDay, now: Date = Date()) async throws -> Int {
        for account in DevAccount.people {
            let existing = try await repository.entries(TimesheetQuery(userID: account.subject, order: .newestDayFirst, limit: 1))
            if !existing.isEmpty { return 0 }
        }
        return try await repository.insert(entries(today: today), at: now).count
    }
}
