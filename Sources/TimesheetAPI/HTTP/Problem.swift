import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TimesheetDomain

/// An RFC 9457 problem: every error response of the API has this `application/problem+json` body.
package struct Problem: HTTPResponseError, Sendable {
    package var status: HTTPResponse.Status
    /// A stable machine-readable code (`validation_failed`, `not_found`, `invalid_token`, ...).
    var code: String
    var title: String
    var detail: String
    var errors: [FieldError] = []
    var headers: HTTPFields = [:]

    static let typeBase = "https://timesheets.exampleco.com/problems/"
    /// The most field errors a body lists; `error_count` says how many there were. One hostile body can break a rule
    /// a hundred thousand times (an unknown field each), and listing them all would answer with a body many times the
    /// request's size; the first hundred show what to fix.
    static let maximumListedErrors = 100

    package init(
        status: HTTPResponse.Status,
        code: String,
        title: String,
        detail: String,
        errors: [FieldError] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = (context as? AppRequestContext)?.requestID
        return render(requestID: requestID)
    }

    func render(requestID: String?) -> Response {
        Response(status: status, headers: responseHeaders, body: .init(byteBuffer: encodedBody(requestID: requestID)))
    }

    /// The problem's own headers and its content type.
    var responseHeaders: HTTPFields {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return fields
    }

    /// The `application/problem+json` body.
    func encodedBody(requestID: String?) -> ByteBuffer {
        let body = Body(
            type: Problem.typeBase + code.replacingOccurrences(of: "_", with: "-"),
            title: title,
            status: Int(status.code),
            detail: detail,
            code: code,
            errors: errors.isEmpty
                ? nil
                : errors.prefix(Self.maximumListedErrors).map {
                    .init(field: $0.field, code: $0.code.rawValue, message: $0.message)
                },
            errorCount: errors.isEmpty ? nil : errors.count,
            requestID: requestID
        )
        return ByteBuffer(bytes: (try? JSONEncoder.api.encode(body)) ?? Data())
    }

    struct Body: Encodable {
        struct Item: Encodable {
            var field: String
            var code: String
            var message: String
        }
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
        /// The first ``Problem/maximumListedErrors`` field errors.
        var errors: [Item]?
        /// How many field errors there were, listed or not.
        var errorCount: Int?
        var requestID: String?

        enum CodingKeys: String, CodingKey {
            case type, title, status, detail, code, errors
            case errorCount = "error_count"
            case requestID = "request_id"
        }
    }
}

extension Problem {
    static func validation(_ errors: [FieldError], detail: String? = nil) -> Problem {
        Problem(
            status: .badRequest,
            code: "validation_failed",
            title: "Invalid request",
            detail: detail ?? Self.validationDetail(count: errors.count),
            errors: errors
        )
    }

    /// How many problems there are, and whether `errors` lists them all.
    static func validationDetail(count: Int) -> String {
        if count > maximumListedErrors {
            return "The request has \(count) problems; errors lists the first \(maximumListedErrors). "
                + "Fix those and send it again."
        }
        return "The request has \(count) problem\(count == 1 ? "" : "s"); see errors."
    }

    static func badRequest(code: String, _ detail: String) -> Problem {
        Problem(status: .badRequest, code: code, title: "Bad request", detail: detail)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, code: "not_found", title: "Not found", detail: detail)
    }

    static func unsupportedMediaType(_ detail: String) -> Problem {
        Problem(
            status: .unsupportedMediaType,
            code: "unsupported_media_type",
            title: "Unsupported media type",
            detail: detail
        )
    }

    static func tooLarge(limit: Int) -> Problem {
        Problem(
            status: .contentTooLarge,
            code: "body_too_large",
            title: "Request body too large",
            detail: "The body may be at most \(limit) bytes; split the request."
        )
    }

    /// A batch upload with more entries than one upload may hold, refused while its array is scanned.
    static func tooManyEntries(limit: Int) -> Problem {
        Problem(
            status: .contentTooLarge,
            code: "too_many_entries",
            title: "Too many entries",
            detail: "An upload may hold at most \(limit) entries and this one has more; split it into several uploads."
        )
    }

    static func unavailable(_ detail: String) -> Problem {
        var problem = Problem(
            status: .serviceUnavailable,
            code: "unavailable",
            title: "Service unavailable",
            detail: detail
        )
        problem.headers[.retryAfter] = "2"
        return problem
    }

    /// An `Idempotency-Key` header that is not one key of at most 255 printable ASCII characters.
    static func invalidIdempotencyKey(_ detail: String) -> Problem {
        .badRequest(code: "invalid_idempotency_key", detail)
    }

    static func internalError() -> Problem {
        Problem(
            status: .internalServerError,
            code: "internal_error",
            title: "Internal server error",
            detail: "Something went wrong on our side. Quote the request_id when you report it."
        )
    }

    /// The problem for a domain refusal.
    init(_ error: TimesheetError) {
        switch error {
        case .validationFailed(let errors):
            self = .validation(errors)
        case .notFound(let id):
            self = .notFound("Timesheet \(id) was not found.")
        case .conflict(let conflict):
            self.init(status: .conflict, code: conflict.code.rawValue, title: "Conflict", detail: conflict.message)
        case .forbidden(let permission):
            self.init(
                status: .forbidden,
                code: "insufficient_scope",
                title: "Forbidden",
                detail: "This needs the \(Scopes.scope(for: permission)) permission."
            )
        case .idempotencyKeyReused(let key):
            self.init(
                status: .unprocessableContent,
                code: "idempotency_key_reused",
                title: "Idempotency key reused",
                detail: "The Idempotency-Key '\(key)' was already used for a different request (another body or "
                    + "route) in the last 24 hours; send a new key for a new request, or repeat the first request "
                    + "exactly to get its answer again."
            )
        }
    }
}
