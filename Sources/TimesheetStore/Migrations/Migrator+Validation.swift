import Foundation

// Validation: files against the `schema_migrations` history, before anything runs.
extension Migrator {
    /// Problems between files and history, in version order.
    public static func problems(files: [MigrationFile], history: [MigrationRecord]) -> [MigrationProblem] {
        let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
        var problems: [MigrationProblem] = []
        for record in history {
            if record.status != "applied" {
                problems.append(
                    .failed(version: record.version, name: record.name, status: record.status, error: record.error)
                )
            } else if let file = byVersion[record.version] {
                if file.checksum != record.checksum {
                    problems.append(
                        .modified(
                            version: record.version,
                            file: file.fileName,
                            applied: record.checksum,
                            current: file.checksum
                        )
                    )
                }
            } else {
                problems.append(.missingFile(version: record.version, name: record.name))
            }
        }
        let applied = Set(history.map(\.version))
        if let newest = history.filter({ $0.status == "applied" }).map(\.version).max() {
            for file in files where !applied.contains(file.version) && file.version < newest {
                problems.append(.outOfOrder(version: file.version, file: file.fileName, newestApplied: newest))
            }
        }
        return problems.sorted { $0.version < $1.version }
    }

    /// The pending files, or the problems the options do not waive.
    func checked(files: [MigrationFile], history: [MigrationRecord]) throws -> [MigrationFile] {
        let problems = Self.problems(files: files, history: history)
        let blocking = problems.filter { !$0.isWaived(by: options) }
        for problem in problems where problem.isWaived(by: options) { output("warning: \(problem)") }
        guard blocking.isEmpty else { throw MigrationError.validationFailed(blocking) }
        let known = Set(history.map(\.version))
        return files.filter { !known.contains($0.version) }
    }
}

extension MigrationProblem {
    var version: Int64 {
        switch self {
        case .modified(let version, _, _, _), .missingFile(let version, _), .outOfOrder(let version, _, _),
            .failed(let version, _, _, _):
            version
        }
    }
}
