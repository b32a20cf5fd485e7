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

    package init(
        status: HTTPResponse.Status, code: String, title: String, detail: String, errors: [FieldError] = [],
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
            title: title, status: Int(status.code), detail: detail, code: code,
            errors: errors.isEmpty ? nil : errors.map { .init(field: $0.field, code: $0.code.rawValue, message: $0.message) },
            requestID: requestID)
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
        var errors: [Item]?
        var requestID: String?

        enum CodingKeys: String, CodingKey {
            case type, title, status, detail, code, errors
            case requestID = "request_id"
        }
    }
}

extension Problem {
    static func validation(_ errors: [FieldError], detail: String? = nil) -> Problem {
        Problem(
            status: .badRequest, code: "validation_failed", title: "Invalid request",
            detail: detail ?? "The request has \(errors.count) problem\(errors.count == 1 ? "" : "s"); see errors.",
            errors: errors)
    }

    static func badRequest(code: String, _ detail: String) -> Problem {
        Problem(status: .badRequest, code: code, title: "Bad request", detail: detail)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, code: "not_found", title: "Not found", detail: detail)
    }

    static func unsupportedMediaType(_ detail: String) -> Problem {
        Problem(status: .unsupportedMediaType, code: "unsupported_media_type", title: "Unsupported media type", detail: detail)
    }

    static func tooLarge(limit: Int) -> Problem {
        Problem(
            status: .contentTooLarge, code: "body_too_large", title: "Request body too large",
            detail: "The body may be at most \(limit) bytes; split the request.")
    }

    static func unavailable(_ detail: String) -> Problem {
        var problem = Problem(status: .serviceUnavailable, code: "unavailable", title: "Service unavailable", detail: detail)
        problem.headers[.retryAfter] = "2"
        return problem
    }

    static func internalError() -> Problem {
        Problem(
            status: .internalServerError, code: "internal_error", title: "Internal server error",
            detail: "Something went wrong on our side. Quote the request_id when you report it.")
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
                status: .forbidden, code: "insufficient_scope", title: "Forbidden",
                detail: "This needs the \(Scopes.scope(for: permission)) permission.")
        }
    }
}
