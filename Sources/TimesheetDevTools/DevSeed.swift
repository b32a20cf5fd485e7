import Foundation
import TimesheetDomain

/// A few weeks of realistic entries for the seeded users, added once.
package enum DevSeed {
    static let projects = ["StoreZero", "Mobile App", "Payroll Sync", "Internal"]

    /// The entries: weekdays of the last four weeks before `today`, one or two projects a day.
    static func entries(today: CalendarDay) -> [NewTimesheet] {
        var entries: [NewTimesheet] = []
        for (index, account) in DevAccount.people.enumerated() {
            for offset in 1...28 {
                let day = today.adding(days: -offset)
                guard day.isoWeekday <= 5 else { continue }
                let main = projects[(offset + index) % projects.count]
                entries.append(
                    NewTimesheet(
                        userID: account.subject,
                        date: day,
                        project: main,
                        hours: Hours(hundredths: 600 + 25 * ((offset + index) % 5)),
                        notes: main == projects[0] ? "\(marker): sprint work" : nil
                    )
                )
                if offset % 3 == 0 {
                    entries.append(
                        NewTimesheet(
                            userID: account.subject,
                            date: day,
                            project: "Internal",
                            hours: Hours(hundredths: 150),
                            notes: "Team meeting"
                        )
                    )
                }
            }
        }
        return entries
    }

    static let marker = "seeded"

    /// Adds the entries for each seeded user who has no seeded entries yet; returns how many were added.
    package static func run(
        _ repository: some TimesheetRepository,
        today: CalendarDay,
        now: Date = Date()
    ) async throws -> Int {
        var added = 0
        for account in DevAccount.people {
            let existing = try await repository.entries(
                TimesheetQuery(userID: account.subject, project: projects[0], order: .newestDayFirst, limit: 500)
            )
            if existing.contains(where: { $0.notes?.hasPrefix(marker) == true }) { continue }
            let mine = entries(today: today).filter { $0.userID == account.subject }
            added += try await repository.insert(mine, at: now).count
        }
        return added
    }
}
