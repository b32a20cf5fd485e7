import NIOCore
import NIOPosix
import Synchronization

/// Thrown when an operation outlives its deadline.
struct DeadlineExceeded: Error {}

/// Runs `operation`, throwing ``DeadlineExceeded`` once it has taken longer than `timeout`, and cancelling it.
///
/// Waiting for a pooled connection to a database that is down never ends by itself, and does not always end when
/// cancelled either. A task group would wait for such a child before returning, so the caller would hang past the
/// deadline; here the caller is answered at the deadline and the cancelled operation is left to end on its own.
/// Cancelling the calling task cancels the operation and throws `CancellationError` at once. An abandoned operation
/// does not pile up: PostgresClient's wait for a connection honours cancellation, so only a query already running on
/// a connection can outlive its caller, and the pool's size bounds those.
func withDeadline<Value: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Value
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
                return (nil as CheckedContinuation<Value, any Error>?, nil as Task<Void, Never>?, nil as Scheduled<Void>?)
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
