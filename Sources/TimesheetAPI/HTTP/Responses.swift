import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TimesheetDomain

extension Response {
    /// A JSON response encoded with the API's encoder.
    package static func json(
        _ value: some Encodable,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) throws -> Response {
        let data = try JSONEncoder.api.encode(value)
        return Response(status: status, headers: jsonHeaders(headers), body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The same response for the bodies the API writes itself (entries and pages of them).
    static func json(
        _ value: some JSONWritable,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) throws -> Response {
        var writer = JSONWriter(capacity: value.expectedJSONSize)
        value.writeJSON(to: &writer)
        return Response(status: status, headers: jsonHeaders(headers), body: .init(byteBuffer: writer.buffer))
    }

    /// The given headers and the JSON content type, with room for the fields every response gains on its way out
    /// (`Content-Length`, `Cache-Control`, `X-Content-Type-Options`, `X-Request-Id`, `Date`): a list of one grew
    /// three times, an allocation and a copy each.
    private static func jsonHeaders(_ headers: HTTPFields) -> HTTPFields {
        var fields = headers
        fields.reserveCapacity(headers.count + 6)
        fields[.contentType] = "application/json; charset=utf-8"
        return fields
    }
}

extension AppRequestContext {
    /// The `{id}` path parameter as a timesheet id; anything else names no entry (404).
    func timesheetID() throws -> TimesheetID {
        let raw = parameters.get("id") ?? ""
        guard let id = TimesheetID(raw) else {
            throw Problem.notFound("No timesheet has id '\(raw.prefix(40))'; ids are positive whole numbers.")
        }
        return id
    }
}
