import ArgumentParser

// Temporary entry point for the store branch; the lead's Main.swift replaces it in the merge.
@main struct Timesheets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "timesheets", subcommands: [MigrateCommand.self])
}
