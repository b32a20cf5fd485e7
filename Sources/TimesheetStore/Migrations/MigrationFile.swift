import Crypto
import Foundation

/// One `migrations/NNNN_snake_name.sql` file.
public struct MigrationFile: Hashable, Sendable {
    public var version: Int64
    /// The snake_case part of the file name.
    public var name: String
    public var fileName: String
    public var path: String
    /// The contents with line endings normalised to `\n` and any byte-order mark removed.
    public var sql: String
    /// Lowercase hex SHA-256 of ``sql``: the same on every platform and checkout.
    public var checksum: String
    /// `false` when the first line is `-- migrate:no-transaction`.
    public var isTransactional: Bool

    /// `0001`.
    public var versionLabel: String { Self.label(version) }

    static func label(_ version: Int64) -> String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The marker a file's first line carries when it cannot run inside a transaction.
    public static let noTransactionMarker = "-- migrate:no-transaction"

    public init(fileName: String, path: String, contents: String) throws(MigrationError) {
        guard let (version, name) = Self.parse(fileName: fileName) else {
            throw .invalidFiles([
                "\(fileName): not a migration name; use NNNN_snake_name.sql (at least 4 digits, then a-z, 0-9, _)"
            ])
        }
        self.version = version
        self.name = name
        self.fileName = fileName
        self.path = path
        self.sql = Self.normalise(contents)
        self.checksum = Self.checksum(of: self.sql)
        let firstLine = self.sql.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        self.isTransactional = firstLine.trimmingCharacters(in: .whitespaces) != Self.noTransactionMarker
    }

    /// `(7, "add_index")` for `0007_add_index.sql`; `nil` when the name does not follow the pattern.
    public static func parse(fileName: String) -> (version: Int64, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard digits.count >= 4, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let version = Int64(digits),
            version > 0
        else { return nil }
        guard !name.isEmpty, !name.hasPrefix("_"), !name.hasSuffix("_"), !name.contains("__"),
            name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
        else { return nil }
        return (version, String(name))
    }

    /// CRLF and CR become LF; a leading byte-order mark is dropped.
    public static func normalise(_ contents: String) -> String {
        var text = contents
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    public static func checksum(of normalised: String) -> String {
        SHA256.hash(data: Data(normalised.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Every migration in `directory`, in version order.
    ///
    /// Files not ending in `.sql` (a README) and hidden files are ignored; a `.sql` file with a malformed name,
    /// two files with one version, and unreadable files are errors naming every offending file.
    public static func load(from directory: String) throws(MigrationError) -> [MigrationFile] {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .usage("the migrations directory \(directory) does not exist")
        }
        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: directory)
        } catch {
            throw .usage("the migrations directory \(directory) cannot be read: \(error)")
        }
        var files: [MigrationFile] = []
        var problems: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") && name.lowercased().hasSuffix(".sql") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = fileManager.contents(atPath: path), let contents = String(data: data, encoding: .utf8)
            else {
                problems.append("\(name): cannot be read as UTF-8 text")
                continue
            }
            do {
                files.append(try MigrationFile(fileName: name, path: path, contents: contents))
            } catch {
                problems.append(contentsOf: error.messages)
            }
        }
        let byVersion = Dictionary(grouping: files, by: \.version)
        for (version, group) in byVersion.sorted(by: { $0.key < $1.key }) where group.count > 1 {
            problems.append(
                "version \(label(version)) is used by several files: "
                    + group.map(\.fileName).sorted().joined(separator: ", ")
            )
        }
        for file in files {
            for statement in SQLScript.statements(in: file.sql) where file.isTransactional {
                let keyword = statement.leadingKeyword
                if ["BEGIN", "COMMIT", "ROLLBACK", "END", "START"].contains(keyword),
                    !statement.text.uppercased().contains("ATOMIC")
                {
                    problems.append(
                        "\(file.fileName):\(statement.line): \(keyword) controls the transaction, which the migrator "
                            + "already opens for each file; remove it, or make the first line "
                            + "\(noTransactionMarker)"
                    )
                }
            }
        }
        guard problems.isEmpty else { throw .invalidFiles(problems) }
        return files.sorted { $0.version < $1.version }
    }
}
