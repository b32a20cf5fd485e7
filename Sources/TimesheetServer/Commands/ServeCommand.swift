import ArgumentParser
import AuthKit
import Foundation
import Logging
import TimesheetAPI

/// `timesheets serve`: the deployed API service.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the API service (needs DATABASE_URL, AUTH_ISSUER and AUTH_AUDIENCE).",
        discussion: "Every flag also reads an environment variable of the same name (--auth-issuer is AUTH_ISSUER); "
            + "a .env file in the working directory is read too."
    )

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        let settings: ServerSettings
        do {
            settings = try ServerSettings.load(from: try await options.configReader())
        } catch let error as SettingError {
            // One clear message naming the setting; the service never starts half-configured.
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let log = LogOutput(label: "timesheets", format: settings.logFormat)
        defer { log.finish() }
        let logger = log.logger(level: settings.logLevel)
        logger.info(
            "starting",
            metadata: [
                "host": .string(settings.host), "port": .stringConvertible(settings.port),
                "issuer": .string(settings.auth.issuers.joined(separator: ",")),
                "dpop": .string(settings.auth.dpop.mode.rawValue),
            ]
        )
        do {
            try await APIServer(settings: settings, logger: logger).run()
        } catch let error as SettingError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
