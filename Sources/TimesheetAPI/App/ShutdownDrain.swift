import HTTPTypes
import NIOCore
import NIOHTTPTypes
import ServiceLifecycle
import Synchronization

/// Whether the server is draining: SIGTERM arrived and it is about to stop taking connections.
final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    func begin() { draining.store(true, ordering: .relaxed) }
}

/// The first step of a graceful shutdown. Listed last in the service group, so it is told first: it marks the server
/// as draining (readiness answers 503, each answer closes its connection) and waits `duration` before the HTTP
/// server is told to stop taking connections and finish what is in flight. A load balancer probing readiness moves
/// new requests elsewhere meanwhile.
struct DrainService: Service {
    let state: DrainState
    let duration: Duration

    func run() async throws {
        // Returns when the group shuts down gracefully; throws when it is cancelled instead.
        do {
            try await gracefulShutdown()
        } catch {
            return
        }
        state.begin()
        if duration > .zero { try? await Task.sleep(for: duration) }
    }
}

/// Not ready while draining, so that a load balancer takes the server out before it stops.
struct DrainingCheck: ReadinessCheck {
    let state: DrainState
    var name: String { "shutdown" }

    func problem() async -> String? {
        state.isDraining ? "shutting down: send new requests to another instance" : nil
    }
}

/// While draining, marks every answer `Connection: close` and closes the connection once it is written, so a
/// client or load balancer never sends another request on a connection that is about to go away.
final class CloseWhileDrainingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let state: DrainState
    private var closeAfterResponse = false

    init(state: DrainState) {
        self.state = state
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational && state.isDraining:
            closeAfterResponse = true
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterResponse:
            // Close once everything before it is on the wire: closing at once would fail the writes still queued
            // (a slow client, a streamed report) and cut the answer short.
            let written = promise ?? context.eventLoop.makePromise()
            context.writeAndFlush(data, promise: written)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
