import Logging
import TimesheetAPI

/// The serve and dev commands' log: lines formatted where they are logged, in the chosen format, and written to
/// standard error by a ``LogLineWriter`` thread. Made without touching the process-global logging system; the
/// command calls ``finish()`` before it exits, so that no waiting line is lost.
struct LogOutput {
    let label: String
    let format: ServerSettings.LogFormat
    private let writer: LogLineWriter

    /// - Parameter label: The loggers' label, which the notice of dropped lines carries too.
    init(label: String, format: ServerSettings.LogFormat) {
        self.label = label
        self.format = format
        self.writer = LogLineWriter { dropped in
            LineLogHandler(label: label, format: format).line(
                for: LogEvent(
                    level: .warning,
                    message: "log lines dropped: standard error did not take them as fast as they came",
                    metadata: ["dropped": .stringConvertible(dropped)],
                    source: "TimesheetServer",
                    file: #fileID,
                    function: #function,
                    line: #line
                )
            )
        }
    }

    func logger(level: Logger.Level) -> Logger {
        let writer = self.writer
        var logger = Logger(label: label) { label in
            LineLogHandler(label: label, format: format, output: { writer.write($0) })
        }
        logger.logLevel = level
        return logger
    }

    /// Writes the waiting lines and stops the writer; gives up after two seconds if standard error takes nothing.
    func finish() {
        writer.finish(timeout: .seconds(2))
    }
}
