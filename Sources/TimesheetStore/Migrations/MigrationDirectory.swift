import Foundation

/// Finds the migrations folder when `--migrations-dir` is not given.
public enum MigrationDirectory {
    /// `explicit` when given; else `migrations` in the working directory; else next to the executable (or up to
    /// five folders above it, which covers `swift run`), or in `share/timesheets/migrations` beside its `bin`.
    public static func locate(
        explicit: String?,
        workingDirectory: String = FileManager.default.currentDirectoryPath,
        executablePath: String = CommandLine.arguments.first ?? ""
    ) throws(MigrationError) -> String {
        let fileManager = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var flag: ObjCBool = false
            return fileManager.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
        }
        if let explicit {
            guard isDirectory(explicit) else { throw .usage("--migrations-dir \(explicit) is not a directory") }
            return explicit
        }
        var candidates = [(workingDirectory as NSString).appendingPathComponent("migrations")]
        let executable = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        candidates.append(folder.appendingPathComponent("share/timesheets/migrations").path)
        candidates.append(folder.deletingLastPathComponent().appendingPathComponent("share/timesheets/migrations").path)
        for _ in 0..<6 {
            candidates.append(folder.appendingPathComponent("migrations").path)
            folder = folder.deletingLastPathComponent()
        }
        if let bundled = Bundle.main.resourceURL?.appendingPathComponent("migrations").path {
            candidates.append(bundled)
        }
        if let found = candidates.first(where: isDirectory) { return found }
        throw .usage(
            "no migrations directory found; pass --migrations-dir. Looked in:\n"
                + candidates.map { "  \($0)" }.joined(separator: "\n")
        )
    }
}
