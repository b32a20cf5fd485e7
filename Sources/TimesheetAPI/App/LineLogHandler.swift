import Foundation
import Logging
import NIOCore
import Synchronization

/// Writes each log event as one line, text or JSON, with a single `write(2)` of bytes formatted in place.
///
/// Why not swift-log's `StreamLogHandler` and `JSONSerialization`: the access log writes a line per request, and
/// those spent several microseconds on it (a `localtime` call and a 255-byte array per line, the metadata sorted into
/// new strings, an `fflush`); the JSON line went through Foundation's object boxing. Here a line is built in one
/// buffer and written at once, so lines from the two event loops never interleave.
///
/// - Text: `2026-11-30T08:00:00+0000 info timesheets: duration_ms=0.85 method=GET [TimesheetAPI] request`, the
///   same shape as `StreamLogHandler` (local time, metadata sorted by key).
/// - JSON: one object per line with `ts` (UTC, milliseconds), `level`, `label`, `message` and the metadata, keys
///   sorted.
package struct LineLogHandler: LogHandler {
    /// Where finished lines go; standard error unless a test captures them.
    package typealias Output = @Sendable (ByteBuffer) -> Void

    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: ServerSettings.LogFormat
    private let output: Output

    package init(
        label: String,
        format: ServerSettings.LogFormat,
        output: @escaping Output = LineLogHandler.standardError
    ) {
        self.label = label
        self.format = format
        self.output = output
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        output(line(for: event))
    }

    /// The event's line, newline included, as `log(event:)` hands it to the output.
    package func line(for event: LogEvent) -> ByteBuffer {
        let fields = Self.fields(metadata, event.metadata)
        var line = JSONWriter(capacity: 512)  // a request's line is about 250 bytes of text, 300 of JSON: no growth
        switch format {
        case .text: writeText(event, fields, to: &line.buffer)
        case .json: writeJSON(event, fields, to: &line)
        }
        line.buffer.writeInteger(UInt8(ascii: "\n"))
        return line.buffer
    }

    /// The handler's metadata and the event's, the event's value winning a shared key, sorted by key: one array, where
    /// merging into a dictionary first copied and grew the handler's on every line.
    private static func fields(_ base: Logger.Metadata, _ extra: Logger.Metadata?) -> Fields {
        var fields = Fields()
        fields.reserveCapacity(base.count + (extra?.count ?? 0))
        if let extra, !extra.isEmpty {
            for field in base where extra[field.key] == nil { fields.append(field) }
            fields.append(contentsOf: extra)
        } else {
            fields.append(contentsOf: base)
        }
        fields.sort { $0.key < $1.key }
        return fields
    }

    private func writeText(_ event: LogEvent, _ metadata: Fields, to line: inout ByteBuffer) {
        line.writeString(LocalTimestamp.now())
        line.writeInteger(UInt8(ascii: " "))
        line.writeString(event.level.rawValue)
        if !label.isEmpty {
            line.writeInteger(UInt8(ascii: " "))
            line.writeString(label)
        }
        line.writeInteger(UInt8(ascii: ":"))
        for (key, value) in metadata {
            line.writeInteger(UInt8(ascii: " "))
            line.writeString(key)
            line.writeInteger(UInt8(ascii: "="))
            line.writeString(value.description)
        }
        line.writeStaticString(" [")
        line.writeString(event.source)
        line.writeStaticString("] ")
        line.writeString(event.message.description)
    }

    private func writeJSON(_ event: LogEvent, _ metadata: Fields, to line: inout JSONWriter) {
        // The fixed keys sort among the metadata's; a metadata key of the same name gives way to them.
        var fields = Fields()
        fields.reserveCapacity(metadata.count + Self.fixedKeys.count)
        for field in metadata where !Self.fixedKeys.contains(field.key) { fields.append(field) }
        fields.append(("label", .string(label)))
        fields.append(("level", .string(event.level.rawValue)))
        fields.append(("message", .string(event.message.description)))
        fields.append(("ts", .string(ISO8601Timestamp.string(Date()))))
        fields.sort { $0.key < $1.key }
        line.object(fields)
    }

    private typealias Fields = [(key: String, value: Logger.Metadata.Value)]

    private static let fixedKeys: Set<String> = ["label", "level", "message", "ts"]

    /// Writes a line to standard error at once with `write(2)`; if standard error is gone or full, the line is
    /// dropped. The server's commands write through a ``LogLineWriter`` instead.
    package static let standardError: Output = { line in
        LogLineWriter.writeAll(line, to: STDERR_FILENO, waitingIfFull: false)
    }
}

extension JSONWriter {
    /// A log event's metadata as JSON: strings as strings, lists as arrays, dictionaries as objects (keys sorted).
    mutating func object(_ fields: [(key: String, value: Logger.Metadata.Value)]) {
        raw("{")
        for (index, field) in fields.enumerated() {
            if index > 0 { raw(",") }
            value(field.key)
            raw(":")
            value(field.value)
        }
        raw("}")
    }

    mutating func value(_ metadata: Logger.Metadata.Value) {
        switch metadata {
        case .string(let text): value(text)
        case .stringConvertible(let convertible): value(convertible.description)
        case .array(let values):
            raw("[")
            for (index, element) in values.enumerated() {
                if index > 0 { raw(",") }
                value(element)
            }
            raw("]")
        case .dictionary(let values): object(values.sorted { $0.key < $1.key })
        }
    }
}

/// `2026-11-30T09:00:00+0100`: local time to the second, as `StreamLogHandler` writes it, formatted once a second.
private enum LocalTimestamp {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    static func now() -> String {
        var seconds = time(nil)
        if let cached = cache.withLock({ $0.second == seconds ? $0.text : nil }) { return cached }
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return "<unknown>" }
        var bytes = [CChar](repeating: 0, count: 64)
        let length = strftime(&bytes, bytes.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = String(decoding: bytes[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        cache.withLock { $0 = (seconds, text) }
        return text
    }
}
