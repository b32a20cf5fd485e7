import NIOCore
import NIOPosix
import Synchronization

/// Thrown when an operation outlives its deadline.
public struct DeadlineExceeded: Error {}

/// Runs `operation`, throwing ``DeadlineExceeded`` once it has taken longer than `timeout`, and cancelling it.
///
/// Why not a task group: PostgresNIO 1.33 can leave a query waiting forever. `PostgresConnection` writes a query to
/// its channel with no write promise and awaits the query's own promise, with no cancellation handler; when the
/// channel has just closed (PostgreSQL killed, `pg_ctl stop -m immediate`), NIO has already removed the handler that
/// would fail that promise, so the write is dropped and the query never ends (upstream fix vapor/postgres-nio#487 was
/// reverted in #501). A task group waits for such a child even after `cancelAll()`, so its caller would hang; here
/// the caller is answered at the deadline and the operation is left to end on its own. Waiting for a pooled
/// connection is not the problem: the pool removes a cancelled lease request at once (an outage run instrumented for
/// this saw every abandoned operation end with `requestCancelled` right at the deadline).
///
/// Cancelling the calling task cancels the operation and throws `CancellationError` at once. An abandoned operation
/// does not pile up: only a query issued on a connection in the moment it closed can outlive its caller, and a
/// leased connection runs one query at a time, so each closed connection strands at most one (a small task and its
/// closure, never a pooled connection: the pool drops a closed connection even while it is leased). The cost,
/// measured in `benchmarks/results/README.md`: one unstructured task and one event-loop timer per store call.
public func withDeadline<Value: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let race = DeadlineRace<Value>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation, timeout: timeout, operation: operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// An operation racing a timer: the first to end answers the waiting caller (exactly once), and the other is
/// cancelled. The timer is a task scheduled on an event loop, which costs far less per query than a second Swift task
/// sleeping.
private final class DeadlineRace<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var isFinished = false
        var work: Task<Void, Never>?
        var timer: Scheduled<Void>?
    }

    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<Value, any Error>,
        timeout: Duration,
        operation: @escaping @Sendable () async throws -> Value
    ) {
        let cancelledBeforeStart = state.withLock { state in
            if state.isFinished { return true }
            state.continuation = continuation
            return false
        }
        if cancelledBeforeStart {
            continuation.resume(throwing: CancellationError())
            return
        }
        let work = Task {
            do {
                finish(.success(try await operation()))
            } catch {
                finish(.failure(error))
            }
        }
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
            self.finish(.failure(DeadlineExceeded()))
        }
        let finishedMeanwhile = state.withLock { state in
            if state.isFinished { return true }
            state.work = work
            state.timer = timer
            return false
        }
        if finishedMeanwhile {
            work.cancel()
            timer.cancel()
        }
    }

    func finish(_ outcome: Result<Value, any Error>) {
        let (continuation, work, timer) = state.withLock { state in
            if state.isFinished {
                return (
                    nil as CheckedContinuation<Value, any Error>?, nil as Task<Void, Never>?, nil as Scheduled<Void>?
                )
            }
            state.isFinished = true
            defer {
                state.continuation = nil
                state.work = nil
                state.timer = nil
            }
            return (state.continuation, state.work, state.timer)
        }
        timer?.cancel()
        work?.cancel()
        continuation?.resume(with: outcome)
    }
}
