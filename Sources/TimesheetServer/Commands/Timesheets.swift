import ArgumentParser

/// The `timesheets` command: the API service and its tools.
@main
struct Timesheets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timesheets",
        abstract: "ExampleCo's timesheets API: the service, its migrations and its development tools.",
        subcommands: [
            ServeCommand.self, DevCommand.self, MigrateCommand.self, TokenCommand.self, HealthcheckCommand.self,
            BenchJSONCommand.self,
        ]
    )
}
