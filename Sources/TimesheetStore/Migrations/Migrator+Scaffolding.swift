import Foundation

// `migrate create`: a new, numbered migration file from a template.
extension Migrator {
    /// Writes `NNNN_name.sql` with the next free number.
    /// - Returns: The new file's path.
    public static func create(name: String, in directory: String) throws(MigrationError) -> String {
        let snake = name.lowercased().unicodeScalars.map { scalar -> String in
            (("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)) ? String(scalar) : "_"
        }.joined()
        let cleaned = snake.split(separator: "_").joined(separator: "_")
        guard !cleaned.isEmpty else {
            throw .usage("'\(name)' has no letters or digits to name a migration with")
        }
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .usage("cannot create the migrations directory \(directory): \(error)")
        }
        let existing = ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? [])
            .compactMap { MigrationFile.parse(fileName: $0)?.version }
        let version = (existing.max() ?? 0) + 1
        let fileName = "\(MigrationFile.label(version))_\(cleaned).sql"
        let path = (directory as NSString).appendingPathComponent(fileName)
        let marker = MigrationFile.noTransactionMarker
        let template = """
            -- \(cleaned.replacingOccurrences(of: "_", with: " ")): what this changes and why.
            -- It runs in one transaction together with its history row. Statements that cannot run in a
            -- transaction (CREATE INDEX CONCURRENTLY) need a file whose first line is \(marker)

            """
        guard fileManager.createFile(atPath: path, contents: Data(template.utf8)) else {
            throw .usage("cannot write \(path)")
        }
        return path
    }
}
