import Hummingbird
import Logging
import NIOCore

/// Per-request state: the request id and what authentication learned, for the request log line.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The id echoed in `X-Request-Id` and carried by every log line and error body.
    var requestID: String
    /// What authentication learned, read back by the request log line.
    let facts = RequestFacts()

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
    }

    /// Bodies are collected by the handlers with their own limits (see ``RequestBodyReader``).
    var maxUploadSize: Int { 1 << 20 }
}
