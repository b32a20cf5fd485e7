/// What an hours report groups entries by.
public enum ReportDimension: String, Hashable, Sendable, CaseIterable {
    case user
    case project
    case week
    case day
}

/// An ISO 8601 week: `2019-W23`. Weeks start on Monday and belong to the year of their Thursday.
public struct ISOWeek: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The Monday that starts the week.
    public let start: CalendarDay

    /// The week that contains `day`.
    public init(containing day: CalendarDay) { start = day.startOfISOWeek }

    public var year: Int { start.isoWeek.year }
    public var number: Int { start.isoWeek.week }

    /// `2019-W23`.
    public var description: String { "\(year)-W\(number < 10 ? "0" : "")\(number)" }

    public static func < (lhs: ISOWeek, rhs: ISOWeek) -> Bool { lhs.start < rhs.start }
}

/// An hours report's question, validated: which days, which entries, grouped how.
public struct HoursReportRequest: Hashable, Sendable {
    /// The longest range one report covers, both ends included.
    public static let maxDays = 366
    public static let defaultGrouping: [ReportDimension] = [.user, .project]
    /// The status counted when the request names none: what has been approved is what gets paid and billed.
    public static let defaultStatus: TimesheetStatus? = .approved

    public var from: CalendarDay
    public var to: CalendarDay
    /// The dimensions in the order asked for; rows are sorted by them in this order.
    public var groupBy: [ReportDimension]
    /// Only entries in this status; `nil` counts every status.
    public var status: TimesheetStatus?
    public var userID: String?
    public var project: String?

    public init(
        from: CalendarDay,
        to: CalendarDay,
        groupBy: [ReportDimension] = HoursReportRequest.defaultGrouping,
        status: TimesheetStatus? = HoursReportRequest.defaultStatus,
        userID: String? = nil,
        project: String? = nil
    ) {
        self.from = from
        self.to = to
        self.groupBy = groupBy
        self.status = status
        self.userID = userID
        self.project = project
    }

    /// The word for "every status" in `status`.
    public static let allStatuses = "all"

    /// Validates every parameter and reports every problem at once, under the names the fields arrived with.
    ///
    /// `from` and `to` are required days with `from <= to`, at most ``maxDays`` days apart counting both ends.
    /// `groupBy` is a comma-separated list of ``ReportDimension`` names, each at most once (default user, project);
    /// `status` is a ``TimesheetStatus`` or `all` (default approved); `userID` and `project` filter when present.
    public static func validate(
        from: InputField,
        to: InputField,
        groupBy: InputField,
        status: InputField,
        userID: InputField,
        project: InputField
    ) -> Result<HoursReportRequest, TimesheetError> {
        var errors: [FieldError] = []
        let start = validateDay(from, what: "first", errors: &errors)
        let end = validateDay(to, what: "last", errors: &errors)
        if let start, let end {
            if start > end {
                let message = "\(to.name) must not be before \(from.name)."
                errors.append(FieldError(field: to.name, code: .outOfRange, message: message))
            } else if end.daysSinceEpoch - start.daysSinceEpoch >= maxDays {
                errors.append(
                    FieldError(
                        field: to.name,
                        code: .outOfRange,
                        message: "A report covers at most \(maxDays) days; ask for several shorter ranges."
                    )
                )
            }
        }
        let grouping = validateGrouping(groupBy, errors: &errors)
        let statusFilter = validateStatus(status, errors: &errors)
        let user =
            userID.value == nil ? nil : TimesheetRules.collect(TimesheetRules.validateUserID(userID), into: &errors)
        let projectName =
            project.value == nil ? nil : TimesheetRules.collect(TimesheetRules.validateProject(project), into: &errors)
        guard errors.isEmpty, let start, let end, let grouping, let statusFilter else {
            return .failure(.validationFailed(errors))
        }
        return .success(
            HoursReportRequest(
                from: start,
                to: end,
                groupBy: grouping,
                status: statusFilter,
                userID: user,
                project: projectName
            )
        )
    }

    static func validateDay(_ field: InputField, what: String, errors: inout [FieldError]) -> CalendarDay? {
        guard field.value != nil, field.value != .null else {
            errors.append(
                FieldError(field: field.name, code: .required, message: "Send the report's \(what) day, as YYYY-MM-DD.")
            )
            return nil
        }
        return TimesheetRules.collect(TimesheetRules.validateDate(field), into: &errors)
    }

    static func validateGrouping(_ field: InputField, errors: inout [FieldError]) -> [ReportDimension]? {
        guard let value = field.value else { return defaultGrouping }
        let known = ReportDimension.allCases.map(\.rawValue).joined(separator: ", ")
        guard case .string(let text) = value else {
            errors.append(
                FieldError(field: field.name, code: .invalidType, message: "Send a comma-separated list of \(known).")
            )
            return nil
        }
        var grouping: [ReportDimension] = []
        var problems: [FieldError] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = String(String(name).trimmingASCIIWhitespace())
            guard let dimension = ReportDimension(rawValue: trimmed) else {
                let shown = trimmed.isEmpty ? "an empty name" : "'\(trimmed.prefix(40))'"
                problems.append(
                    FieldError(
                        field: field.name,
                        code: .unknownGrouping,
                        message: "\(field.name) has \(shown); use a comma-separated list of \(known)."
                    )
                )
                continue
            }
            if grouping.contains(dimension) {
                problems.append(
                    FieldError(
                        field: field.name,
                        code: .duplicateGrouping,
                        message: "\(field.name) names \(dimension.rawValue) twice; name each dimension once."
                    )
                )
                continue
            }
            grouping.append(dimension)
        }
        // One line per kind of problem is enough to act on; a hostile list of thousands repeats itself.
        var seen = Set<FieldError.Code>()
        errors += problems.filter { seen.insert($0.code).inserted }
        return problems.isEmpty ? grouping : nil
    }

    /// The status to count, `.some(nil)` for every status, or `nil` (and an error) when the value is not one.
    static func validateStatus(_ field: InputField, errors: inout [FieldError]) -> TimesheetStatus?? {
        guard let value = field.value else { return .some(defaultStatus) }
        if case .string(let text) = value {
            if text == allStatuses { return .some(nil) }
            if let known = TimesheetStatus(rawValue: text) { return .some(known) }
        }
        let names = TimesheetStatus.allCases.map(\.rawValue) + [allStatuses]
        errors.append(
            FieldError(
                field: field.name,
                code: .invalidValue,
                message: "Use one of " + names.joined(separator: ", ") + "."
            )
        )
        return nil
    }
}

/// One row of an hours report: the values of the dimensions it groups by (the others `nil`), the hours recorded
/// and how many entries recorded them.
public struct HoursReportRow: Hashable, Sendable {
    public var userID: String?
    public var project: String?
    public var week: ISOWeek?
    public var day: CalendarDay?
    public var hours: Hours
    public var entries: Int

    public init(
        userID: String? = nil,
        project: String? = nil,
        week: ISOWeek? = nil,
        day: CalendarDay? = nil,
        hours: Hours,
        entries: Int
    ) {
        self.userID = userID
        self.project = project
        self.week = week
        self.day = day
        self.hours = hours
        self.entries = entries
    }

    /// Whether `lhs` sorts before `rhs` by `dimensions` in order. Text compares by its UTF-8 bytes (PostgreSQL's
    /// `COLLATE "C"`), so every repository sorts, and groups, the same names the same way.
    public static func precedes(_ lhs: HoursReportRow, _ rhs: HoursReportRow, by dimensions: [ReportDimension]) -> Bool
    {
        for dimension in dimensions {
            switch dimension {
            case .user:
                if let order = byteOrder(lhs.userID, rhs.userID) { return order }
            case .project:
                if let order = byteOrder(lhs.project, rhs.project) { return order }
            case .week:
                if lhs.week != rhs.week, let left = lhs.week, let right = rhs.week { return left < right }
            case .day:
                if lhs.day != rhs.day, let left = lhs.day, let right = rhs.day { return left < right }
            }
        }
        return false
    }

    /// `true` or `false` when the texts differ, `nil` when they are the same bytes.
    private static func byteOrder(_ lhs: String?, _ rhs: String?) -> Bool? {
        guard let lhs, let rhs, !lhs.utf8.elementsEqual(rhs.utf8) else { return nil }
        return lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}

/// A report's rows as the repository reads them, in order and a batch at a time: a large report is never held whole.
///
/// Why batches: each call of an `async` function can cost a trip through the executor's queue (under NIO's installer
/// of the global executor, every call into a `nonisolated` async function enqueued a job), which came to 2.6 jobs
/// and most of the 2-3 µs per row of a 117,000-row report (benchmarks/results/README.md, "Issue #17 reports"). A
/// writer reads ``batches`` and handles each batch's rows in plain loops; iterating rows one by one
/// (``makeAsyncIterator()``) stays for tests and small reports.
public struct HoursReportRows: AsyncSequence, Sendable {
    public typealias Element = HoursReportRow
    public typealias Failure = any Error

    /// The rows in order, a batch at a time; no batch is empty.
    public let batches: any AsyncSequence<[HoursReportRow], any Error> & Sendable

    /// Rows read by the batch: `batches` must yield them in the report's order, and no empty batch.
    public init(batches: some AsyncSequence<[HoursReportRow], any Error> & Sendable) { self.batches = batches }

    /// Rows read one at a time, gathered into batches of `batchSize`.
    public init(_ rows: some AsyncSequence<HoursReportRow, any Error> & Sendable, batchSize: Int = 256) {
        self.init(batches: GatheredRows(rows: rows, batchSize: batchSize))
    }

    /// Rows already in memory: one batch.
    public init(_ rows: [HoursReportRow]) { self.init(batches: OneBatch(rows: rows)) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var batches: any AsyncIteratorProtocol<[HoursReportRow], any Error>
        var batch: IndexingIterator<[HoursReportRow]> = [].makeIterator()

        public mutating func next() async throws -> HoursReportRow? {
            while true {
                if let row = batch.next() { return row }
                guard let next = try await batches.next() else { return nil }
                batch = next.makeIterator()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(batches: batches.makeAsyncIterator()) }

    private struct OneBatch: AsyncSequence, Sendable {
        var rows: [HoursReportRow]
        struct AsyncIterator: AsyncIteratorProtocol {
            var rows: [HoursReportRow]?
            mutating func next() async throws -> [HoursReportRow]? {
                defer { rows = nil }
                return rows?.isEmpty == false ? rows : nil
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rows: rows) }
    }

    private struct GatheredRows<Rows: AsyncSequence<HoursReportRow, any Error> & Sendable>: AsyncSequence, Sendable {
        let rows: Rows
        let batchSize: Int
        struct AsyncIterator: AsyncIteratorProtocol {
            var rows: Rows.AsyncIterator
            let batchSize: Int
            mutating func next() async throws -> [HoursReportRow]? {
                var batch: [HoursReportRow] = []
                batch.reserveCapacity(batchSize)
                while batch.count < batchSize, let row = try await rows.next() { batch.append(row) }
                return batch.isEmpty ? nil : batch
            }
        }
        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(rows: rows.makeAsyncIterator(), batchSize: Swift.max(1, batchSize))
        }
    }
}

extension HoursReportRequest {
    /// Whether an entry is counted by this report (the in-memory repository's definition).
    public func counts(_ entry: Timesheet) -> Bool {
        if entry.date < from || entry.date > to { return false }
        if let status, entry.status != status { return false }
        if let userID, !entry.userID.utf8.elementsEqual(userID.utf8) { return false }
        if let project, !entry.project.utf8.elementsEqual(project.utf8) { return false }
        return true
    }

    /// The report's rows over `entries`: one per group of counted entries, sorted by ``groupBy``. The reference
    /// aggregation the in-memory repository runs, and the one the PostgreSQL store must agree with.
    public func aggregate(_ entries: some Sequence<Timesheet>) -> [HoursReportRow] {
        var groups: [ReportGroupKey: HoursReportRow] = [:]
        for entry in entries where counts(entry) {
            var row = HoursReportRow(hours: .zero, entries: 0)
            if groupBy.contains(.user) { row.userID = entry.userID }
            if groupBy.contains(.project) { row.project = entry.project }
            if groupBy.contains(.week) { row.week = ISOWeek(containing: entry.date) }
            if groupBy.contains(.day) { row.day = entry.date }
            let key = ReportGroupKey(
                user: row.userID.map { Array($0.utf8) },
                project: row.project.map { Array($0.utf8) },
                week: row.week,
                day: row.day
            )
            var total = groups[key] ?? row
            total.hours = total.hours + entry.hours
            total.entries += 1
            groups[key] = total
        }
        let dimensions = groupBy
        return groups.values.sorted { HoursReportRow.precedes($0, $1, by: dimensions) }
    }
}

/// A report group's identity. Text as bytes, not `String`: Swift compares strings by canonical equivalence, PostgreSQL
/// by bytes, and a composed and a decomposed `é` are two projects to the database.
private struct ReportGroupKey: Hashable {
    var user: [UInt8]?
    var project: [UInt8]?
    var week: ISOWeek?
    var day: CalendarDay?
}
