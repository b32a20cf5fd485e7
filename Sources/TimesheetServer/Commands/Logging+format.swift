import Logging
import TimesheetAPI

/// Loggers for the command's chosen format, made without touching the process-global logging system.
enum LogOutput {
    static func logger(label: String, level: Logger.Level, format: ServerSettings.LogFormat) -> Logger {
        var logger = Logger(label: label) { label in LineLogHandler(label: label, format: format) }
        logger.logLevel = level
        return logger
    }
}
