import Synchronization
import Testing

@testable import TimesheetStore

@Suite("Deadlines on store operations", .timeLimit(.minutes(1)))
struct DeadlineTests {
    /// An operation that ignores cancellation, as a wait for a pooled connection to a dead database can: it ends only
    /// when `release` is called.
    final class Uncooperative: Sendable {
        private let waiter = Mutex<CheckedContinuation<Void, Never>?>(nil)
        private let ended = Atomic<Bool>(false)

        func run() async -> Int {
            await withCheckedContinuation { continuation in
                waiter.withLock { $0 = continuation }
            }
            ended.store(true, ordering: .sequentiallyConsistent)
            return 1
        }

        func release() async {
            while true {
                if let continuation = waiter.withLock({ $0.take() }) {
                    continuation.resume()
                    return
                }
                await Task.yield()
            }
        }

        var hasEnded: Bool { ended.load(ordering: .sequentiallyConsistent) }
    }

    @Test("The caller is answered at the deadline even when the operation ignores cancellation")
    func uncooperativeOperation() async throws {
        let operation = Uncooperative()
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50)) { await operation.run() }
        }
        // The caller got its answer while the operation was still stuck: a task group would still be waiting here.
        #expect(!operation.hasEnded)
        await operation.release()
    }

    @Test("A result or an error within the deadline is passed through")
    func withinDeadline() async throws {
        let value = try await withDeadline(.seconds(10)) { 42 }
        #expect(value == 42)
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await withDeadline(.seconds(10)) { () async throws -> Int in throw Refused() }
        }
    }

    @Test("Cancelling the caller cancels the wait at once")
    func callerCancelled() async throws {
        let operation = Uncooperative()
        let caller = Task { try await withDeadline(.seconds(600)) { await operation.run() } }
        try await Task.sleep(for: .milliseconds(20))
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(!operation.hasEnded)
        await operation.release()
    }
}
