import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request whose head (request line and headers) is larger than the HTTP decoder allows with
/// `431 Request Header Fields Too Large` and a problem body, then closes the connection.
///
/// Without it the server's generic parser-error path sends an empty `400`, which tells a client nothing. Such a
/// request never reaches the router (there is no request to route), so it is answered here, in the channel.
final class OversizedHeadHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// The decoder's limit, for the message.
    let limit: Int
    /// How long the rest of a refused request may keep arriving before the connection is closed.
    static let lingerTime = TimeAmount.seconds(2)
    private var answered = false

    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answered { return }
        guard let parserError = error as? HTTPParserError, parserError == .headerOverflow else {
            context.fireErrorCaught(error)
            return
        }
        answered = true
        let problem = Problem(
            status: .init(code: 431, reasonPhrase: "Request Header Fields Too Large"),
            code: "headers_too_large",
            title: "Request header fields too large",
            detail: "The request line and headers may be at most \(limit) bytes together; "
                + "send a shorter URL, fewer cookies or a shorter token."
        )
        let buffer = problem.encodedBody(requestID: nil)
        var fields = problem.responseHeaders
        fields[.connection] = "close"
        fields.addStandardResponseHeaders()
        fields[.contentLength] = String(buffer.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: problem.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        // Close only our side first: closing outright with the rest of the request unread would make the kernel
        // reset the connection, and the client could lose the answer. Whatever else arrives is dropped by the
        // decoder, and the connection is closed for good shortly after.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
        }
    }
}
