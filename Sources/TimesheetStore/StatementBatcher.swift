import Synchronization

/// Calls of one kind that wait for the same pool (page reads, single-entry inserts), answered together by one
/// statement.
///
/// Why: a small statement costs PostgreSQL and PostgresNIO about as much for its round trip (a lease, a Bind and
/// Execute, a portal, a reply, a wake-up) as for its work, and a write also for its commit (a WAL record and a flush).
/// When every connection of a pool is busy, the calls waiting for it are gathered here, and the next connection free
/// runs them all as one statement (over arrays of the calls' parameters). Calls with equal keys share one answer:
/// reads of the same page do; a write's key is unique to it.
///
/// How: the first call to arrive when no call of its kind is waiting for a connection leads: it asks the pool for a
/// connection, and once it has one, takes every call waiting by then (itself first, at most ``maximumBatchSize``),
/// runs them, and answers each. Calls arriving meanwhile wait behind it. Nothing waits for a timer: a call that
/// finds a connection free runs at once, alone, so a quiet server answers as fast as without batching.
///
/// Each call joins only a batch that has not started, so a read's answer reflects every write committed before it
/// arrived, as its own statement's would. A waiting call that is cancelled (its deadline) is answered with
/// `CancellationError` at once and leaves the queue (a write cancelled before a batch took it is never made); a
/// leader cancelled before it has a connection hands the lead to the next waiting call, so no call depends on a
/// caller that gave up.
final class StatementBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The most calls one statement answers; the rest wait for the next connection.
    let maximumBatchSize: Int

    /// What one batch returns: an answer per key. A key's own failure fails only the calls of that key.
    typealias Answers = [Key: Result<Value, any Error>]

    private struct Waiter {
        var key: Key
        var slot: Slot
    }

    private struct State {
        /// The calls waiting for a connection, in arrival order; the leader's own call is the first.
        var waiting: [Waiter] = []
        /// A call is leading: it has asked for a connection and not yet taken the waiting calls.
        var isLeading = false
    }

    private let state = Mutex(State())
    /// The most calls one batch took so far (for tests).
    private let largest = Atomic<Int>(0)

    init(maximumBatchSize: Int = 16) {
        precondition(maximumBatchSize > 0, "a batch needs room for one call")
        self.maximumBatchSize = maximumBatchSize
    }

    /// The value for `key`, got in a batch with the other calls waiting at the time.
    ///
    /// - Parameter run: Called by the leading call only: it acquires what a batch needs (a connection), then calls
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
            // `run` broke its contract and took no calls: let the next one lead rather than stall them all.
            handOverLead(from: own)
        }
        for waiter in batch where waiter.slot !== own {
            waiter.slot.resolve(Self.answer(for: waiter.key, in: answers).map { .answer($0) })
        }
        return try Self.answer(for: key, in: answers).get()
    }

    private static func answer(for key: Key, in answers: Answers) -> Result<Value, any Error> {
        answers[key] ?? .failure(UnansweredCall())
    }

    /// Answers each key by running it alone with `one`, in order: for a batch the server refused as a whole, so that
    /// each call gets the answer its own statement would have had.
    static func answeringEachAlone(
        _ keys: [Key],
        _ one: (Key) async throws -> Value
    ) async -> Answers {
        var answers = Answers(minimumCapacity: keys.count)
        for key in keys {
            do {
                answers[key] = .success(try await one(key))
            } catch {
                answers[key] = .failure(error)
            }
        }
        return answers
    }

    /// The calls of the next batch, and the call that leads the one after it when more are waiting.
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

    /// A leader failed before it took the waiting calls (its deadline, say, while no connection was free): the next
    /// waiting call leads instead.
    private func handOverLead(from own: Slot) {
        promote(nextLeader(removing: own))
    }

    /// Gives the lead to `candidate`, the first waiting call. When it was answered meanwhile (cancelled, and about to
    /// leave the queue), the next call gets the lead instead, so that waiting calls never stay without a leader.
    private func promote(_ candidate: Slot?) {
        var next = candidate
        while let slot = next, !slot.resolve(.success(.lead)) {
            next = nextLeader(removing: slot)
        }
    }

    /// Removes `slot` from the queue; returns the first call still waiting, or `nil` (and no call leads) when none is.
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

    /// The calls waiting for a connection, the leader's included (for tests).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// The most calls one batch took so far (for tests).
    var largestBatch: Int { largest.load(ordering: .relaxed) }

    /// A cancelled call leaves the queue (when it is still in it).
    private func remove(_ slot: Slot) {
        state.withLock { state in state.waiting.removeAll { $0.slot === slot } }
    }

    /// What a waiting call is woken with: its value, or the lead.
    enum Signal: Sendable {
        case answer(Value)
        case lead
    }

    /// One waiting call's answer, given exactly once: the first of the batch's answer, the lead and a
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
                        preconditionFailure("a call waits for its answer once")
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

/// A batch returned no answer for a call it was given: a bug in the batch's statement or its decoding.
struct UnansweredCall: Error, CustomStringConvertible {
    var description: String { "a batched call got no answer from its batch" }
}
