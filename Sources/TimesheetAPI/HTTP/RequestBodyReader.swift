import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PercentEncoding
import TimesheetDomain

/// Reads request bodies: JSON or form-encoded, size-limited while streaming, decoded into domain input.
package struct RequestBodyReader: Sendable {
    /// The largest body of an ordinary request.
    var limit: Int
    /// The largest body of a batch upload.
    var batchLimit: Int

    package init(limit: Int, batchLimit: Int) {
        self.limit = limit
        self.batchLimit = batchLimit
    }

    enum Format {
        case json
        case form
    }

    /// Checks the content type and collects at most `limit` bytes, refusing with 413 as soon as more arrive.
    func collect(_ request: Request, limit: Int) async throws -> (Format, ByteBuffer) {
        let format = try Self.format(of: request)
        return (format, try await collectBytes(request, limit: limit))
    }

    /// At most `limit` bytes of the body: refused up front by Content-Length, or as soon as more arrive.
    package func collectBytes(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw Problem.tooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem.tooLarge(limit: limit)
        }
    }

    static func format(of request: Request) throws -> Format {
        try format(ofContentType: request.headers[.contentType])
    }

    /// The body's format named by a `Content-Type` value; 415 for a missing or other media type.
    static func format(ofContentType contentType: String?) throws -> Format {
        guard let contentType else {
            throw Problem.unsupportedMediaType(
                "Send the body as application/json or application/x-www-form-urlencoded."
            )
        }
        // The media type: the bytes before any parameter, without the optional white space (SP, HTAB) around it,
        // compared without regard to ASCII case (RFC 9110, 8.3.1).
        var mediaType = contentType.utf8[...]
        if let semicolon = mediaType.firstIndex(of: UInt8(ascii: ";")) { mediaType = mediaType[..<semicolon] }
        while let first = mediaType.first, first == 0x20 || first == 0x09 { mediaType = mediaType.dropFirst() }
        while let last = mediaType.last, last == 0x20 || last == 0x09 { mediaType = mediaType.dropLast() }
        if Self.equalsIgnoringASCIICase(mediaType, "application/json") { return .json }
        if Self.equalsIgnoringASCIICase(mediaType, "application/x-www-form-urlencoded") { return .form }
        throw Problem.unsupportedMediaType(
            "\(String(Substring(mediaType)).lowercased()) is not supported; "
                + "send application/json or application/x-www-form-urlencoded."
        )
    }

    /// Whether `bytes` spell `lowercase` (ASCII letters in any case).
    private static func equalsIgnoringASCIICase(_ bytes: Substring.UTF8View, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                byte == wanted || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == wanted)
            }
        }
    }

    /// One entry, from a JSON object or a form.
    func entry(_ request: Request) async throws -> TimesheetInput {
        try await entryAndBody(request).input
    }

    /// One entry and the body it was read from (whose digest an idempotency key is checked against).
    func entryAndBody(_ request: Request) async throws -> (input: TimesheetInput, body: ByteBuffer) {
        let (format, buffer) = try await collect(request, limit: limit)
        switch format {
        case .form:
            return (EntryBody(form: try Self.formFields(buffer)).input, buffer)
        case .json:
            return (try Self.decodeJSON(EntryBody.self, from: buffer, expecting: "a JSON object").input, buffer)
        }
    }

    /// One entry object (as the reference's cron client sends) or an array of them.
    func batch(_ request: Request) async throws -> [TimesheetInput] {
        try await batchAndBody(request).inputs
    }

    /// A batch and the body it was read from.
    func batchAndBody(_ request: Request) async throws -> (inputs: [TimesheetInput], body: ByteBuffer) {
        let (format, buffer) = try await collect(request, limit: batchLimit)
        return (try Self.batch(format, buffer), buffer)
    }

    private static func batch(_ format: Format, _ buffer: ByteBuffer) throws -> [TimesheetInput] {
        switch format {
        case .form:
            return [EntryBody(form: try Self.formFields(buffer)).input]
        case .json:
            let firstByte = buffer.readableBytesView.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            if firstByte == UInt8(ascii: "[") {
                return try Self.decodeJSON(
                    [EntryBody].self,
                    from: buffer,
                    expecting: "an array of entry objects",
                    maximumElements: TimesheetRules.maxBatchSize
                ).map(\.input)
            }
            return [
                try Self.decodeJSON(EntryBody.self, from: buffer, expecting: "an entry object or an array of them")
                    .input
            ]
        }
    }

    /// A small object of optional string fields, such as a rejection's `reason`; an empty body is an empty object.
    func fields(_ request: Request, allowed: Set<String>) async throws -> [String: InputValue] {
        if request.headers[.contentType] == nil {
            // No body at all is an empty object; a body without a type is refused below, never silently dropped.
            let buffer = try await collectBytes(request, limit: limit)
            if buffer.readableBytes == 0 { return [:] }
            _ = try Self.format(of: request)
        }
        let (format, buffer) = try await collect(request, limit: limit)
        var values: [String: InputValue] = [:]
        switch format {
        case .form:
            for (name, value) in try Self.formFields(buffer) { values[name] = .string(value) }
        case .json:
            if buffer.readableBytes == 0 { return [:] }
            values = try Self.decodeJSON([String: JSONValue].self, from: buffer, expecting: "a JSON object")
                .mapValues(\.value)
        }
        let unknown = values.keys.filter { !allowed.contains($0) }.sorted()
        if !unknown.isEmpty {
            // One message shared by every error: a body can name 100,000 unknown fields.
            let message = "Unknown field; the fields are \(allowed.sorted().joined(separator: ", "))."
            throw Problem.validation(unknown.map { FieldError(field: $0, code: .unknownField, message: message) })
        }
        return values
    }

    /// Decodes a body after ``StrictJSON``'s checks; `maximumElements` bounds a top-level array.
    static func decodeJSON<Value: Decodable>(
        _ type: Value.Type,
        from buffer: ByteBuffer,
        expecting: String,
        maximumElements: Int = .max
    ) throws -> Value {
        let data = Data(buffer.readableBytesView)
        switch StrictJSON.firstViolation(in: data, maximumElements: maximumElements) {
        case nil: break
        case .invalidUTF8:
            throw Problem.badRequest(code: "malformed_json", "The body is not valid UTF-8; send JSON encoded as UTF-8.")
        case .tooDeep:
            throw Problem.badRequest(
                code: "malformed_json",
                "The body nests deeper than \(StrictJSON.maximumDepth) levels; expected \(expecting)."
            )
        case .duplicateKey(let key):
            throw Problem.badRequest(
                code: "duplicate_key",
                "The field '\(key.prefix(40))' appears twice in one object; send each field once."
            )
        case .tooManyElements:
            throw Problem.tooManyEntries(limit: maximumElements)
        case .tooManyNestedValues:
            throw Problem.badRequest(
                code: "nested_values",
                "The body holds more than \(StrictJSON.maximumNestedValues) values nested inside fields; "
                    + "every field is a string, a number or null."
            )
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch DecodingError.typeMismatch(_, _), DecodingError.valueNotFound(_, _) {
            // Valid JSON of the wrong shape, such as `null` or an array where an object belongs.
            throw Problem.badRequest(code: "invalid_body", "Expected \(expecting).")
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            throw Problem.badRequest(code: "invalid_body", "Expected \(expecting).")
        } catch {
            throw Problem.badRequest(
                code: "malformed_json",
                "The body is not valid JSON (UTF-8); expected \(expecting)."
            )
        }
    }

    /// Decodes `application/x-www-form-urlencoded` pairs; `+` is a space, and escapes must spell UTF-8, as in a
    /// query string (``PercentDecoding``).
    package static func formFields(_ buffer: ByteBuffer) throws -> [(name: String, value: String)] {
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw Problem.badRequest(code: "malformed_form", "The form body is not valid UTF-8.")
        }
        var fields: [(name: String, value: String)] = []
        // A set, not a scan of `fields`: a 1 MiB form can hold 100,000 names, and a quadratic check would be a
        // denial of service.
        var names = Set<String>()
        // Split on bytes, as query strings are: splitting characters would not see a `&` or `=` that a combining
        // mark follows (`&\u{301}b=2` is one grapheme cluster), and would join two fields into one.
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring.UTF8View) throws -> String {
                guard let value = PercentDecoding.decode(part, plus: .space) else {
                    throw Problem.badRequest(code: "malformed_form", "The form body has an invalid percent-encoding.")
                }
                return value
            }
            let name = try decode(parts[0])
            guard names.insert(name).inserted else {
                throw Problem.badRequest(
                    code: "duplicate_key",
                    "The field '\(name.prefix(40))' appears twice in the form; send each field once."
                )
            }
            fields.append((name, parts.count > 1 ? try decode(parts[1]) : ""))
        }
        return fields
    }
}
