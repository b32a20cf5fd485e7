import Crypto
import HTTPTypes
import Hummingbird
import NIOCore
import TimesheetDomain

/// The `Idempotency-Key` request header (IETF httpapi draft "The Idempotency-Key HTTP Header Field") and the
/// `Idempotent-Replayed` header of a replayed answer.
///
/// The key is a Structured Field string (`"8e03978e-40d5-43e8-bc93-6894a57f9324"`); the bare token form most clients
/// send (`8e03978e-...`) is accepted too and names the same key. Either way the key is 1 to 255 printable ASCII
/// characters (space to `~`), sent in one header field.
enum IdempotencyKey {
    static let header = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!
    static let maximumLength = 255

    /// The request's key, `nil` without the header; a malformed one is a 400 `invalid_idempotency_key`.
    static func parse(_ request: Request) throws -> String? {
        let fields = request.headers[values: header]
        guard let raw = fields.first else { return nil }
        guard fields.count == 1 else {
            throw Problem.invalidIdempotencyKey("Send one Idempotency-Key header, not \(fields.count).")
        }
        return try parse(raw)
    }

    /// A header value as a key: an sf-string's content, or the bare value.
    static func parse(_ raw: String) throws -> String {
        var bytes = Array(raw.utf8)
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes.removeFirst() }
        if bytes.first == UInt8(ascii: "\"") {
            bytes = try unquoted(bytes)
        }
        guard !bytes.isEmpty else {
            throw Problem.invalidIdempotencyKey("The Idempotency-Key is empty; send a unique key such as a UUID.")
        }
        guard bytes.count <= maximumLength else {
            throw Problem.invalidIdempotencyKey(
                "The Idempotency-Key has \(bytes.count) characters; send at most \(maximumLength), such as a UUID."
            )
        }
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
            throw Problem.invalidIdempotencyKey(
                "The Idempotency-Key may hold printable ASCII characters only (space to ~); send a UUID, for example."
            )
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The content of an RFC 8941 string: `"` ... `"`, with `\"` and `\\` the only escapes.
    private static func unquoted(_ bytes: [UInt8]) throws -> [UInt8] {
        let malformed = Problem.invalidIdempotencyKey(
            "The Idempotency-Key is not a valid quoted string; send \"key\" (escaping \" and \\ with \\) or a bare key."
        )
        guard bytes.count >= 2, bytes.last == UInt8(ascii: "\"") else { throw malformed }
        var content: [UInt8] = []
        var index = 1
        while index < bytes.count - 1 {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count - 1, [UInt8(ascii: "\""), UInt8(ascii: "\\")].contains(bytes[index + 1])
                else { throw malformed }
                content.append(bytes[index + 1])
                index += 2
            } else {
                guard byte != UInt8(ascii: "\"") else { throw malformed }
                content.append(byte)
                index += 1
            }
        }
        return content
    }

    /// The SHA-256 of a request body, compared when a key comes again.
    static func digest(of body: ByteBuffer) -> [UInt8] {
        Array(SHA256.hash(data: body.readableBytesView))
    }

    /// A write under `key`: the caller's, for `operation`, with the body's digest; `answer` makes the response to
    /// record (and send) from the stored entries.
    static func request(
        key: String,
        caller: Caller,
        operation: String,
        body: ByteBuffer,
        answer: @escaping @Sendable ([Timesheet]) -> RecordedAnswer
    ) -> IdempotentRequest {
        IdempotentRequest(scope: caller.userID, key: key, operation: operation, digest: digest(of: body)) { stored in
            answer(stored)
        }
    }

    /// A JSON answer as the API writes it.
    static func answer(
        status: HTTPResponse.Status,
        location: String? = nil,
        _ value: some JSONWritable
    )
        -> RecordedAnswer
    {
        var writer = JSONWriter(capacity: value.expectedJSONSize)
        value.writeJSON(to: &writer)
        return RecordedAnswer(
            status: Int(status.code),
            location: location,
            body: Array(writer.buffer.readableBytesView)
        )
    }

    /// The HTTP response of an outcome: the recorded answer, marked `Idempotent-Replayed: true` when replayed.
    static func response(_ outcome: IdempotentOutcome) -> Response {
        let answer = outcome.answer
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let location = answer.location { headers[.location] = location }
        if case .replayed = outcome { headers[replayedHeader] = "true" }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }
}
