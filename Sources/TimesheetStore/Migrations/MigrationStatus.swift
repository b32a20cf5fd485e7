import Foundation

/// The answer of `timesheets migrate status`.
public struct MigrationStatus: Sendable, Encodable {
    public struct Entry: Hashable, Sendable, Encodable {
        public var version: String
        public var name: String
        /// `applied`, `pending`, `failed`, `running`, `modified`, `missing file` or `out of order`.
        public var state: String
        public var appliedAt: Date?
        public var executionMilliseconds: Int64?
        public var appliedBy: String?
        public var transactional: Bool
    }

    public var database: String
    public var entries: [Entry]
    public var pending: Int
    public var problems: [String]

    init(database: String, files: [MigrationFile], history: [MigrationRecord], problems: [MigrationProblem]) {
        self.database = database
        let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
        let records = Dictionary(uniqueKeysWithValues: history.map { ($0.version, $0) })
        let newest = history.filter { $0.status == "applied" }.map(\.version).max() ?? 0
        var entries: [Entry] = []
        for version in Set(byVersion.keys).union(records.keys).sorted() {
            let file = byVersion[version]
            let record = records[version]
            let state: String
            switch (file, record) {
            case (_, let record?) where record.status != "applied": state = record.status
            case (nil, _?): state = "missing file"
            case (let file?, let record?): state = file.checksum == record.checksum ? "applied" : "modified"
            case (_?, nil): state = version < newest ? "out of order" : "pending"
            case (nil, nil): continue
            }
            entries.append(
                Entry(
                    version: MigrationFile.label(version),
                    name: file?.name ?? record?.name ?? "",
                    state: state,
                    appliedAt: record?.appliedAt,
                    executionMilliseconds: record?.executionMilliseconds,
                    appliedBy: record?.appliedBy,
                    transactional: file?.isTransactional ?? record?.transactional ?? true
                )
            )
        }
        self.entries = entries
        self.pending = entries.filter { $0.state == "pending" || $0.state == "out of order" }.count
        self.problems = problems.map(\.description)
    }

    /// `0` up to date, `1` pending files, `3` problems.
    public var exitCode: MigrateExitCode {
        problems.isEmpty ? (pending > 0 ? .pending : .success) : .validationFailure
    }

    /// A table for people.
    public func table() -> String {
        let formatter = ISO8601DateFormatter()
        let header = ["VERSION", "NAME", "STATE", "APPLIED AT (UTC)", "TIME", "BY"]
        let rows = entries.map { entry in
            [
                entry.version, entry.name + (entry.transactional ? "" : " (no-tx)"), entry.state,
                entry.appliedAt.map { formatter.string(from: $0) } ?? "",
                entry.executionMilliseconds.map { "\($0) ms" } ?? "", entry.appliedBy ?? "",
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        var lines = ["database: \(database)", line(header)] + rows.map(line)
        if entries.isEmpty { lines.append("(no migrations)") }
        lines.append(
            pending == 0 ? "up to date" : "\(pending) pending"
        )
        lines += problems.map { "problem: \($0)" }
        return lines.joined(separator: "\n")
    }

    /// The same as JSON, for scripts.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}
