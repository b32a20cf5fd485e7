import ArgumentParser
import EventLoopConcurrency

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

    static func main() async {
        // Run Swift concurrency's tasks on NIO's event loop threads (first thing, on the main thread): every request
        // handler then runs where its socket is served, instead of hopping to Swift's pool and back with a wake-up
        // on each side (scripts/bench: about a third of the server's CPU per request went to those hops). Jobs run
        // as the generic executor's, unlike NIO's own installer (see EventLoopGlobalExecutor for why).
        EventLoopGlobalExecutor.install()
        await main(nil)
    }
}
