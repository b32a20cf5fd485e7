import Hummingbird
import Logging
import NIOCore

/// Per-request state: the request id and what authentication learned, for the request log line.
package struct AppRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// The id echoed in `X-Request-Id` and carried by every log line and error body.
    var requestID: String
    /// What authentication learned, read back by the request log line.
    let facts = RequestFacts()
    /// Who the request speaks for, set by ``RequireAccess`` on the routes that need a token.
    var identity: Identity?

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
    }

    /// Bodies are collected by the handlers with their own limits (see ``RequestBodyReader``).
    package var maxUploadSize: Int { 1 << 20 }
}
