import HTTPTypes
import Hummingbird

/// Adds the headers every response carries, errors included (see ``HTTPFields/addStandardResponseHeaders()``).
///
/// Outermost middleware, so it sees every response the router gives, whatever rendered it.
struct StandardResponseHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        response.headers.addStandardResponseHeaders()
        return response
    }
}

extension HTTPFields {
    /// `Cache-Control: no-store`, unless the response chose its own caching, and `X-Content-Type-Options: nosniff`.
    ///
    /// The API's answers belong to one caller and change with every write, so no browser or proxy may keep them
    /// (the web client's static assets say how long they may be kept, and keep that). `nosniff` makes a browser take
    /// the declared content type at its word: a JSON body holding a user's text is never run as HTML or script.
    mutating func addStandardResponseHeaders() {
        if self[.cacheControl] == nil { self[.cacheControl] = "no-store" }
        self[.xContentTypeOptions] = "nosniff"
    }
}
