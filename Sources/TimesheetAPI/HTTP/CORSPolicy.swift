import HTTPTypes
import Hummingbird

/// CORS for browser clients on allowed origins. Preflight requests are answered here, before any token check.
///
/// Hummingbird's CORSMiddleware takes its allowlist only as variadic arguments, and ours comes from configuration.
struct CORSPolicyMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let allowedOrigins: Set<String>

    static let allowMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    static let allowHeaders = "Authorization, Content-Type, X-Request-Id, Idempotency-Key, DPoP"
    static let exposeHeaders =
        "Location, X-Request-Id, WWW-Authenticate, Retry-After, Idempotent-Replayed, DPoP-Nonce, Content-Disposition"

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let origin = request.headers[.origin], allowedOrigins.contains(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Response(
                status: .noContent,
                headers: [
                    .accessControlAllowOrigin: origin,
                    .accessControlAllowMethods: Self.allowMethods,
                    .accessControlAllowHeaders: Self.allowHeaders,
                    .accessControlMaxAge: "600",
                    .vary: "Origin",
                ]
            )
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
        response.headers[.vary] = "Origin"
        return response
    }
}
