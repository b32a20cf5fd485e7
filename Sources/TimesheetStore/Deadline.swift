import Synchronization

/// Thrown when an operation outlives its deadline.
struct DeadlineExceeded: Error {}

/// Runs `operation`, throwing ``DeadlineExceeded`` when it takes longer than `timeout` (the operation is cancelled).
///
/// Waiting for a pooled connection to a database that is down never ends by itself; this bounds it. The caller is
/// answered at the deadline even when the operation does not react to cancellation at once (a query on a connection
/// whose server just died can take much longer to fail): a task group would wait for it, so the operation runs in
/// its own task and finishes, cancelled, in the background.
func withDeadline<Value: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let outcome = FirstOutcome<Value>()
    let work = Task {
        do {
            outcome.settle(.success(try await operation()))
        } catch {
            outcome.settle(.failure(error))
        }
    }
    let timer = Task {
        if (try? await Task.sleep(for: timeout)) != nil { outcome.settle(.failure(DeadlineExceeded())) }
    }
    defer {
        work.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await outcome.value()
    } onCancel: {
        outcome.settle(.failure(CancellationError()))
    }
}

/// The first of several competing results; later ones are ignored.
private final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiter: CheckedContinuation<Value, any Error>?
    }
    private let state = Mutex(State())

    func settle(_ result: Result<Value, any Error>) {
        let waiter: CheckedContinuation<Value, any Error>? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Value, any Error>? = state.withLock { state in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
