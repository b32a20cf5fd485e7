import Logging
import PostgresNIO

// `migrate repair`: the way out after a no-transaction file failed or applied files were edited.
extension Migrator {
    /// What ``repair(realignChecksums:)`` changed.
    public struct RepairReport: Hashable, Sendable {
        public var removedFailed: [String]
        public var realigned: [String]
    }

    /// Clears `failed` (and interrupted `running`) rows so their files run again; with `realignChecksums`, also
    /// records the current checksum of applied files that changed.
    @discardableResult
    public func repair(realignChecksums: Bool = false) async throws(MigrationError) -> RepairReport {
        let files = try MigrationFile.load(from: directory)
        return try await withSession { connection in
            try await acquireLock(connection)
            try await createHistoryTable(connection)
            let history = try await readHistory(connection)
            var report = RepairReport(removedFailed: [], realigned: [])
            for record in history where record.status != "applied" {
                try await connection.query(
                    "DELETE FROM schema_migrations WHERE version = \(record.version)",
                    logger: logger
                ).drain()
                let label = "\(MigrationFile.label(record.version))_\(record.name)"
                report.removedFailed.append(label)
                output("cleared the \(record.status) record of \(label); it will run again on the next `migrate up`")
            }
            if realignChecksums {
                let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
                for record in history where record.status == "applied" {
                    guard let file = byVersion[record.version], file.checksum != record.checksum else { continue }
                    try await connection.query(
                        "UPDATE schema_migrations SET checksum = \(file.checksum) WHERE version = \(record.version)",
                        logger: logger
                    ).drain()
                    report.realigned.append(file.fileName)
                    output("recorded the new checksum of \(file.fileName)")
                }
            }
            if report.removedFailed.isEmpty && report.realigned.isEmpty { output("nothing to repair") }
            try await releaseLock(connection)
            return report
        }
    }
}
