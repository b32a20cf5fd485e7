import Synchronization

/// Reads of one kind that wait for the same pool, answered together by one statement.
///
/// Why: a page read costs PostgreSQL and PostgresNIO about as much for its round trip (a lease, a Bind and Execute,
/// a portal, a reply, a wake-up) as for its rows. When every connection of a pool is busy, the reads waiting for
/// it are gathered here, and the next connection free runs them all as one statement (a `LATERAL` join over arrays
/// of the reads' parameters). Reads with the same parameters share one answer.
///
/// How: the first read to arrive when no read of its kind is waiting for a connection leads: it asks the pool for a
/// connection, and once it has one, takes every read waiting by then (itself first, at most ``maximumBatchSize``),
/// runs them, and answers each. Reads arriving meanwhile wait behind it. Nothing waits for a timer: a read that
/// finds a connection free runs at once, alone, so a quiet server answers as fast as without batching.
///
/// Each read joins only a batch that has not started, so its answer reflects every write committed before it
/// arrived, as its own statement's would. A waiting read that is cancelled (its deadline) is answered with
/// `CancellationError` at once and leaves the queue; a leader cancelled before it has a connection hands the lead
/// to the next waiting read, so no read depends on a caller that gave up.
final class ReadBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The most reads one statement answers; the rest wait for the next connection.
    let maximumBatchSize: Int

    /// What one batch returns: an answer per key. A key's own failure fails only the reads of that key.
    typealias Answers = [Key: Result<Value, any Error>]

    private struct Waiter {
        var key: Key
        var slot: Slot
    }

    private struct State {
        /// The reads waiting for a connection, in arrival order; the leader's own read is the first.
        var waiting: [Waiter] = []
        /// A read is leading: it has asked for a connection and not yet taken the waiting reads.
        var isLeading = false
    }

    private let state = Mutex(State())
    /// The most reads one batch took so far (for tests).
    private let largest = Atomic<Int>(0)

    init(maximumBatchSize: Int = 16) {
        precondition(maximumBatchSize > 0, "a batch needs room for one read")
        self.maximumBatchSize = maximumBatchSize
    }

    /// The value for `key`, read in a batch with the other reads waiting at the time.
    ///
    /// - Parameter run: Called by the leading read only: it acquires what a batch needs (a connection), then calls
    ///   `takeKeys` exactly once and returns an answer for every key it was given.
    func load(
        _ key: Key,
        _ run: (_ takeKeys: () -> [Key]) async throws -> Answers
    ) async throws -> Value {
        let slot = Slot()
        let leads = state.withLock { state in
            state.waiting.append(Waiter(key: key, slot: slot))
            if state.isLeading { return false }
            state.isLeading = true
            return true
        }
        if !leads {
            let signal = try await withTaskCancellationHandler {
                try await slot.wait()
            } onCancel: {
                if slot.resolve(.failure(CancellationError())) { self.remove(slot) }
            }
            switch signal {
            case .answer(let value): return value
            case .lead: break
            }
        }
        return try await lead(key, slot, run)
    }

    private func lead(
        _ key: Key,
        _ own: Slot,
        _ run: (_ takeKeys: () -> [Key]) async throws -> Answers
    ) async throws -> Value {
        var batch: [Waiter] = []
        let answers: Answers
        do {
            answers = try await run {
                let (taken, next) = self.takeBatch()
                self.promote(next)
                self.largest.max(taken.count, ordering: .relaxed)
                batch = taken
                var keys: [Key] = []
                keys.reserveCapacity(taken.count)
                var seen = Set<Key>(minimumCapacity: taken.count)
                for waiter in taken where seen.insert(waiter.key).inserted { keys.append(waiter.key) }
                return keys
            }
        } catch {
            if batch.isEmpty {
                handOverLead(from: own)
            } else {
                for waiter in batch where waiter.slot !== own { waiter.slot.resolve(.failure(error)) }
            }
            throw error
        }
        if batch.isEmpty {
            // `run` broke its contract and took no reads: let the next one lead rather than stall them all.
            handOverLead(from: own)
        }
        for waiter in batch where waiter.slot !== own {
            waiter.slot.resolve(Self.answer(for: waiter.key, in: answers).map { .answer($0) })
        }
        return try Self.answer(for: key, in: answers).get()
    }

    private static func answer(for key: Key, in answers: Answers) -> Result<Value, any Error> {
        answers[key] ?? .failure(UnansweredRead())
    }

    /// The reads of the next batch, and the read that leads the one after it when more are waiting.
    private func takeBatch() -> ([Waiter], Slot?) {
        state.withLock { state in
            let count = min(state.waiting.count, maximumBatchSize)
            let taken = Array(state.waiting.prefix(count))
            state.waiting.removeFirst(count)
            guard let next = state.waiting.first else {
                state.isLeading = false
                return (taken, nil)
            }
            return (taken, next.slot)
        }
    }

    /// A leader failed before it took the waiting reads (its deadline, say, while no connection was free): the next
    /// waiting read leads instead.
    private func handOverLead(from own: Slot) {
        promote(nextLeader(removing: own))
    }

    /// Gives the lead to `candidate`, the first waiting read. When it was answered meanwhile (cancelled, and about to
    /// leave the queue), the next read gets the lead instead, so that waiting reads never stay without a leader.
    private func promote(_ candidate: Slot?) {
        var next = candidate
        while let slot = next, !slot.resolve(.success(.lead)) {
            next = nextLeader(removing: slot)
        }
    }

    /// Removes `slot` from the queue; returns the first read still waiting, or `nil` (and no read leads) when none is.
    private func nextLeader(removing slot: Slot) -> Slot? {
        state.withLock { state in
            state.waiting.removeAll { $0.slot === slot }
            guard let first = state.waiting.first else {
                state.isLeading = false
                return nil
            }
            return first.slot
        }
    }

    /// The reads waiting for a connection, the leader's included (for tests).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// The most reads one batch took so far (for tests).
    var largestBatch: Int { largest.load(ordering: .relaxed) }

    /// A cancelled read leaves the queue (when it is still in it).
    private func remove(_ slot: Slot) {
        state.withLock { state in state.waiting.removeAll { $0.slot === slot } }
    }

    /// What a waiting read is woken with: its value, or the lead.
    enum Signal: Sendable {
        case answer(Value)
        case lead
    }

    /// One waiting read's answer, given exactly once: the first of the batch's answer, the lead and a
    /// cancellation wins; the others are dropped.
    final class Slot: Sendable {
        private enum State {
            case empty
            case waiting(CheckedContinuation<Signal, any Error>)
            case resolved(Result<Signal, any Error>)
            case done
        }

        private let state = Mutex(State.empty)

        func wait() async throws -> Signal {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<Signal, any Error>? = state.withLock { state in
                    switch state {
                    case .empty:
                        state = .waiting(continuation)
                        return nil
                    case .resolved(let result):
                        state = .done
                        return result
                    case .waiting, .done:
                        preconditionFailure("a read waits for its answer once")
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        }

        /// Gives the answer; `false` when one was given before.
        @discardableResult
        func resolve(_ result: Result<Signal, any Error>) -> Bool {
            let (continuation, won): (CheckedContinuation<Signal, any Error>?, Bool) = state.withLock { state in
                switch state {
                case .empty:
                    state = .resolved(result)
                    return (nil, true)
                case .waiting(let continuation):
                    state = .done
                    return (continuation, true)
                case .resolved, .done:
                    return (nil, false)
                }
            }
            continuation?.resume(with: result)
            return won
        }
    }
}

/// A batch returned no answer for a read it was given: a bug in the batch's statement or its decoding.
struct UnansweredRead: Error, CustomStringConvertible {
    var description: String { "a batched read got no answer from its batch" }
}
