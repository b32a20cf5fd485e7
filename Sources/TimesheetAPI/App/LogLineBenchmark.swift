import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Times the access log's line, one per request: the metadata `RequestLogMiddleware` builds, the request id it adds
/// to the logger, and ``LineLogHandler`` formatting the line, text and JSON, with the write left out (its cost is the
/// system call's). Prints figures; asserts only that a line was made.
package struct LogLineBenchmark {
    /// How long each measurement runs.
    package var seconds: Double

    package init(seconds: Double) {
        self.seconds = seconds
    }

    /// The handler made no line, so the figure would time nothing.
    package struct NothingWritten: Error, CustomStringConvertible {
        package var description: String { "LineLogHandler wrote no access line" }
    }

    /// Runs each format's measurement and hands one line of figures to `report` as soon as it is known.
    package func run(report: (String) -> Void) throws {
        let timer = OperationTimer(seconds: seconds)
        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/timesheets?limit=20"),
            body: .init(buffer: ByteBuffer())
        )
        let response = Response(status: .ok)
        let facts = RequestFacts()
        facts.userID = "auth0|bench-user-8028"
        let requestIDs = RequestIDs()
        for format in [ServerSettings.LogFormat.text, .json] {
            let written = LineCount()
            var logger = Logger(label: "timesheets") { label in
                LineLogHandler(label: label, format: format, output: { written.add($0.readableBytes) })
            }
            // What Hummingbird gives each request's logger before our middleware sees it.
            logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            let perSecond = timer.operationsPerSecond {
                var requestLogger = logger
                requestLogger[metadataKey: "request_id"] = .string(requestIDs.next())
                requestLogger.info(
                    "request",
                    metadata: RequestLogMiddleware.metadata(
                        request,
                        response,
                        route: "/timesheets",
                        duration: .microseconds(6_740),
                        facts: facts
                    )
                )
            }
            guard let bytes = written.bytesPerLine else { throw NothingWritten() }
            report(
                "access log line (\(format.rawValue)): \(Int(1e9 / perSecond)) ns each, \(Int(perSecond)) per second, "
                    + "\(bytes) bytes"
            )
        }
    }

    /// Counts the lines the handler hands to its output.
    private final class LineCount: Sendable {
        private let counts = Mutex((lines: 0, bytes: 0))

        func add(_ count: Int) {
            counts.withLock { $0 = ($0.lines + 1, $0.bytes + count) }
        }

        var bytesPerLine: Int? { counts.withLock { $0.lines == 0 ? nil : $0.bytes / $0.lines } }
    }
}
