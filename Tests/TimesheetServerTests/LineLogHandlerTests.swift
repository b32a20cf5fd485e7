import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@testable import TimesheetAPI

/// Log lines, text and JSON, as a log shipper reads them.
@Suite struct LineLogHandlerTests {
    final class Lines: Sendable {
        let captured = Mutex<[String]>([])
        var all: [String] { captured.withLock { $0 } }
        func append(_ line: ByteBuffer) { captured.withLock { $0.append(String(buffer: line)) } }
    }

    static func logger(_ format: ServerSettings.LogFormat, into lines: Lines) -> Logger {
        var logger = Logger(label: "timesheets") { label in
            LineLogHandler(label: label, format: format, output: { lines.append($0) })
        }
        logger[metadataKey: "request_id"] = "r-1"
        return logger
    }

    @Test func jsonLinesAreOneObjectEachWithSortedKeys() throws {
        let lines = Lines()
        let logger = Self.logger(.json, into: lines)
        logger.info(
            "request \"quoted\"\nsecond line",
            metadata: [
                "status": .stringConvertible(200), "route": "/timesheets", "tags": ["a", "b"],
                "level": "spoofed", "nested": ["z": "1", "a": "2"],
            ]
        )
        let line = try #require(lines.all.first)
        #expect(lines.all.count == 1 && line.hasSuffix("}\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "request \"quoted\"\nsecond line")
        #expect(object["level"] as? String == "info", "a metadata key cannot replace a fixed one")
        #expect(object["label"] as? String == "timesheets")
        #expect(object["request_id"] as? String == "r-1" && object["status"] as? String == "200")
        #expect(object["tags"] as? [String] == ["a", "b"])
        #expect((object["nested"] as? [String: String]) == ["a": "2", "z": "1"])
        let ts = try #require(object["ts"] as? String)
        #expect(
            try Date(ts, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)).timeIntervalSinceNow > -60
        )
        let keys = ["label", "level", "message", "nested", "request_id", "route", "status", "tags", "ts"]
        let positions = keys.map { line.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted(), "keys in sorted order")
    }

    @Test func textLinesHaveStreamLogHandlersShape() throws {
        let lines = Lines()
        Self.logger(.text, into: lines).warning("slow", metadata: ["duration_ms": "12.50"])
        let line = try #require(lines.all.first)
        let timestamp = #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4} /#
        let prefix = try #require(line.prefixMatch(of: timestamp), "a local timestamp first: \(line)")
        #expect(
            line[prefix.range.upperBound...]
                == "warning timesheets: duration_ms=12.50 request_id=r-1 [TimesheetServerTests] slow\n"
        )
    }

    @Test func anEventsMetadataReplacesTheLoggersForTheSameKey() throws {
        let lines = Lines()
        var logger = Self.logger(.text, into: lines)
        logger[metadataKey: "user_id"] = "from-logger"
        logger.info("request", metadata: ["user_id": "from-event", "method": "GET", "tags": ["a", "b"]])
        logger.info("plain")
        let written = lines.all.map { line in line[line.firstIndex(of: " ")!...] }
        #expect(
            written == [
                " info timesheets: method=GET request_id=r-1 tags=[\"a\", \"b\"] user_id=from-event "
                    + "[TimesheetServerTests] request\n",
                " info timesheets: request_id=r-1 user_id=from-logger [TimesheetServerTests] plain\n",
            ]
        )
    }

    @Test func anEventsMetadataReplacesTheLoggersInJSONToo() throws {
        let lines = Lines()
        var logger = Self.logger(.json, into: lines)
        logger[metadataKey: "user_id"] = "from-logger"
        logger.info("request", metadata: ["user_id": "from-event"])
        logger.info("empty", metadata: [:])
        #expect(lines.all.count == 2)
        let replaced = try #require(lines.all.first)
        #expect(replaced.components(separatedBy: "\"user_id\":").count == 2, "one user_id key: \(replaced)")
        #expect(replaced.contains("\"user_id\":\"from-event\""))
        let empty = try #require(lines.all.last)
        #expect(empty.contains("\"user_id\":\"from-logger\"") && empty.contains("\"request_id\":\"r-1\""))
    }

    @Test func levelsBelowTheLoggersAreNotWritten() {
        let lines = Lines()
        var logger = Self.logger(.json, into: lines)
        logger.logLevel = .warning
        logger.info("quiet")
        logger.error("loud")
        #expect(lines.all.count == 1)
    }
}
