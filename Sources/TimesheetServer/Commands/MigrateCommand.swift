import ArgumentParser
import Foundation
import Logging
import TimesheetStore

/// `timesheets migrate`: applies and inspects the SQL migrations in `migrations/`.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply and inspect the database migrations (run before every release).",
        discussion: """
            Files are migrations/NNNN_snake_name.sql, applied once each in order and recorded in schema_migrations \
            with their SHA-256. A file whose first line is `-- migrate:no-transaction` runs outside a transaction.

            Exit codes:
              0   success, or nothing to do
              1   status: migrations are pending
              2   a migration's SQL failed (its transaction was rolled back, or a no-transaction file is marked failed)
              3   validation failed (changed, missing or out-of-order file; a failed row that needs `repair`; bad names)
              4   another migration held the lock longer than --lock-timeout
              5   the database is unreachable (within --wait-timeout when --wait is given)
              6   the database refused the connection (credentials, unknown database, TLS) — never retried
              64  usage error (bad arguments, no DATABASE_URL, no migrations directory)
            """,
        subcommands: [Up.self, Status.self, Validate.self, Create.self, Repair.self],
        defaultSubcommand: Up.self
    )

    struct Connection: ParsableArguments {
        @Option(
            name: .customLong("database-url"),
            help: "postgres:// URL (default: the DATABASE_URL environment variable)."
        )
        var databaseURL: String?

        @Option(
            name: .customLong("migrations-dir"),
            help: "Folder of NNNN_name.sql files (default: ./migrations, else next to the executable)."
        )
        var migrationsDirectory: String?

        @Flag(
            help: "Keep retrying while the database is starting or unreachable (wrong credentials still fail at once)."
        )
        var wait = false

        @Option(name: .customLong("wait-timeout"), help: "Seconds to keep retrying with --wait.")
        var waitTimeout: Double = 60

        @Option(name: .customLong("lock-timeout"), help: "Seconds to wait for another migration's lock.")
        var lockTimeout: Double = 60

        func migrator(_ configure: (inout Migrator.Options) -> Void = { _ in }) throws(MigrationError) -> Migrator {
            guard let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
                throw .usage("no database given: set DATABASE_URL or pass --database-url")
            }
            let configuration: DatabaseConfiguration
            do {
                configuration = try DatabaseConfiguration(url: url)
            } catch {
                throw .usage(error.description)
            }
            guard waitTimeout >= 0, lockTimeout >= 0 else { throw .usage("timeouts must not be negative") }
            var options = Migrator.Options()
            options.lockTimeout = .milliseconds(Int64(lockTimeout * 1_000))
            options.waitTimeout = wait ? .milliseconds(Int64(waitTimeout * 1_000)) : nil
            configure(&options)
            return Migrator(
                configuration: configuration,
                directory: try MigrationDirectory.locate(explicit: migrationsDirectory),
                options: options,
                output: { print($0) }
            )
        }
    }

    struct Allowances: ParsableArguments {
        @Flag(help: "Proceed although applied files were changed.")
        var allowModified = false
        @Flag(help: "Proceed although applied versions have no file (the database is ahead of this build).")
        var allowMissing = false
        @Flag(help: "Apply pending files older than the newest applied one.")
        var allowOutOfOrder = false

        func apply(to options: inout Migrator.Options) {
            options.allowModified = allowModified
            options.allowMissing = allowMissing
            options.allowOutOfOrder = allowOutOfOrder
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate, then apply every pending migration (the default)."
        )
        @OptionGroup var connection: Connection
        @OptionGroup var allowances: Allowances
        @Flag(help: "List what would run without running it.")
        var dryRun = false

        func run() async throws {
            try await MigrateCommand.finish {
                let migrator = try connection.migrator {
                    allowances.apply(to: &$0)
                    $0.dryRun = dryRun
                }
                try await migrator.up()
                return .success
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show applied and pending migrations; exit 1 when some are pending, 3 on problems."
        )
        @OptionGroup var connection: Connection
        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            try await MigrateCommand.finish {
                let status = try await connection.migrator().status()
                print(json ? status.json() : status.table())
                return status.exitCode
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the files against the database's history; change nothing."
        )
        @OptionGroup var connection: Connection
        @OptionGroup var allowances: Allowances

        func run() async throws {
            try await MigrateCommand.finish {
                try await connection.migrator { allowances.apply(to: &$0) }.validate()
                return .success
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create NNNN_name.sql with the next number.")
        @Argument(help: "What the migration does, e.g. add_client_column.")
        var name: String
        @Option(name: .customLong("migrations-dir"), help: "Folder of the migrations (default: ./migrations).")
        var migrationsDirectory: String?

        func run() async throws {
            try await MigrateCommand.finish {
                let directory =
                    migrationsDirectory
                    ?? (try? MigrationDirectory.locate(explicit: nil)) ?? "migrations"
                print("created \(try Migrator.create(name: name, in: directory))")
                return .success
            }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Clear failed no-transaction migrations so they run again (after you undid their partial effects)."
        )
        @OptionGroup var connection: Connection
        @Flag(help: "Also record the current checksum of applied files that were changed.")
        var realignChecksums = false

        func run() async throws {
            try await MigrateCommand.finish {
                try await connection.migrator().repair(realignChecksums: realignChecksums)
                return .success
            }
        }
    }

    /// Runs a subcommand, prints its error to standard error and exits with the documented code.
    static func finish(_ body: () async throws -> MigrateExitCode) async throws {
        let code: MigrateExitCode
        do {
            code = try await body()
        } catch let error as MigrationError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            code = error.exitCode
        }
        if code != .success { throw ExitCode(code.rawValue) }
    }
}
