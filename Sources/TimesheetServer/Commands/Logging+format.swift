import Logging
import TimesheetAPI

/// Loggers for the command's chosen format, made without touching the process-global logging system.
enum LogOutput {
    static func logger(label: String, level: Logger.Level, format: ServerSettings.LogFormat) -> Logger {
        var logger = Logger(label: label) { label in
            switch format {
            case .text: LineLogHandler(label: label, format: .text)
            case .json: LineLogHandler(label: label, format: .json)
            }
        }
        logger.logLevel = level
        return logger
    }
}
