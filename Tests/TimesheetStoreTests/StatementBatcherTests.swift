import Synchronization
import Testing

@testable import TimesheetStore

@Suite("Batched calls", .timeLimit(.minutes(1)))
struct StatementBatcherTests {
    /// Stands in for a pool: each run waits at the gate (a connection) until the test opens it, then records the
    /// keys it took and answers each with the key doubled, or with the failure the test set for that key.
    final class Source: Sendable {
        private struct State {
            var gates: [CheckedContinuation<Void, any Error>] = []
            var isOpen = false
            var batches: [[Int]] = []
            var failing: [Int: any Error] = [:]
        }

        private let state = Mutex(State())

        func run(_ takeKeys: () -> [Int]) async throws -> StatementBatcher<Int, Int>.Answers {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let isOpen = state.withLock { state in
                    if !state.isOpen { state.gates.append(continuation) }
                    return state.isOpen
                }
                if isOpen { continuation.resume() }
            }
            let keys = takeKeys()
            let failing = state.withLock { state in
                state.batches.append(keys)
                return state.failing
            }
            var answers = StatementBatcher<Int, Int>.Answers()
            for key in keys { answers[key] = failing[key].map { .failure($0) } ?? .success(key * 2) }
            return answers
        }

        /// Lets every waiting run and every later one through.
        func open() {
            let gates = state.withLock { state in
                state.isOpen = true
                defer { state.gates = [] }
                return state.gates
            }
            for gate in gates { gate.resume() }
        }

        /// Fails the first waiting run before it takes any key, as a pool does when the lease is given up.
        func refuseFirstWaiting(with error: any Error) async {
            while true {
                let gate = state.withLock { state in state.gates.isEmpty ? nil : state.gates.removeFirst() }
                if let gate {
                    gate.resume(throwing: error)
                    return
                }
                await Task.yield()
            }
        }

        func fail(_ key: Int, with error: any Error) {
            state.withLock { $0.failing[key] = error }
        }

        var batches: [[Int]] { state.withLock { $0.batches } }
    }

    struct Refused: Error, Equatable {}

    /// Waits until `count` reads are queued in `batcher`.
    static func waitUntil(_ batcher: StatementBatcher<Int, Int>, holds count: Int) async {
        while batcher.waitingCount < count { await Task.yield() }
    }

    @Test("A read that finds the pool free runs at once, alone")
    func aLoneReadRunsAtOnce() async throws {
        let batcher = StatementBatcher<Int, Int>()
        let source = Source()
        source.open()
        #expect(try await batcher.load(21) { try await source.run($0) } == 42)
        #expect(try await batcher.load(5) { try await source.run($0) } == 10)
        #expect(source.batches == [[21], [5]])
        #expect(batcher.waitingCount == 0)
    }

    @Test("Reads that wait for a busy pool are answered by one run, the same key read once")
    func waitingReadsShareOneRun() async throws {
        let batcher = StatementBatcher<Int, Int>()
        let source = Source()
        let keys = [1, 2, 3, 2, 4, 1, 5]
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask { (key, try await batcher.load(key) { try await source.run($0) }) }
                // One at a time, so the queue's order is the loop's.
                await Self.waitUntil(batcher, holds: index + 1)
            }
            source.open()
            for try await (key, value) in group { #expect(value == key * 2) }
        }
        #expect(source.batches == [[1, 2, 3, 4, 5]])
        #expect(batcher.waitingCount == 0)
    }

    @Test("No run takes more than the batch size; the rest lead the next run")
    func batchesAreBounded() async throws {
        let batcher = StatementBatcher<Int, Int>(maximumBatchSize: 3)
        let source = Source()
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for key in 0..<8 {
                group.addTask { (key, try await batcher.load(key) { try await source.run($0) }) }
                await Self.waitUntil(batcher, holds: key + 1)
            }
            source.open()
            for try await (key, value) in group { #expect(value == key * 2) }
        }
        #expect(source.batches == [[0, 1, 2], [3, 4, 5], [6, 7]])
    }

    @Test("A waiting read that is cancelled is answered at once and leaves the batch")
    func aCancelledReadLeaves() async throws {
        let batcher = StatementBatcher<Int, Int>()
        let source = Source()
        let leader = Task { try await batcher.load(1) { try await source.run($0) } }
        await Self.waitUntil(batcher, holds: 1)
        let quitter = Task { try await batcher.load(2) { try await source.run($0) } }
        await Self.waitUntil(batcher, holds: 2)
        let stayer = Task { try await batcher.load(3) { try await source.run($0) } }
        await Self.waitUntil(batcher, holds: 3)
        quitter.cancel()
        await #expect(throws: CancellationError.self) { try await quitter.value }
        #expect(batcher.waitingCount == 2)
        source.open()
        #expect(try await leader.value == 2)
        #expect(try await stayer.value == 6)
        #expect(source.batches == [[1, 3]])
    }

    @Test("A leader that gives up before it has a connection hands the lead to the next read")
    func theLeadIsHandedOver() async throws {
        let batcher = StatementBatcher<Int, Int>()
        let source = Source()
        let leader = Task { try await batcher.load(1) { try await source.run($0) } }
        await Self.waitUntil(batcher, holds: 1)
        let follower = Task { try await batcher.load(2) { try await source.run($0) } }
        await Self.waitUntil(batcher, holds: 2)
        await source.refuseFirstWaiting(with: Refused())
        await #expect(throws: Refused.self) { try await leader.value }
        // The follower now leads: it waits for a connection of its own.
        source.open()
        #expect(try await follower.value == 4)
        #expect(source.batches == [[2]])
        #expect(batcher.waitingCount == 0)
    }

    @Test("A failure for one key fails only its reads")
    func aKeysFailureIsItsOwn() async throws {
        let batcher = StatementBatcher<Int, Int>()
        let source = Source()
        source.fail(2, with: Refused())
        try await withThrowingTaskGroup(of: (Int, Result<Int, Refused>).self) { group in
            for (index, key) in [1, 2, 3, 2].enumerated() {
                group.addTask {
                    do {
                        return (key, .success(try await batcher.load(key) { try await source.run($0) }))
                    } catch let error as Refused {
                        return (key, .failure(error))
                    }
                }
                await Self.waitUntil(batcher, holds: index + 1)
            }
            source.open()
            for try await (key, result) in group {
                #expect(result == (key == 2 ? .failure(Refused()) : .success(key * 2)))
            }
        }
        #expect(source.batches == [[1, 2, 3]])
    }

    @Test("A failed run fails every read it took, and later reads run anew")
    func aFailedRunFailsItsReads() async throws {
        let batcher = StatementBatcher<Int, Int>()
        struct Broken: Error {}
        let keys = [1, 2, 3]
        try await withThrowingTaskGroup(of: Bool.self) { group in
            let gate = Source()
            for (index, key) in keys.enumerated() {
                group.addTask {
                    do {
                        _ = try await batcher.load(key) { takeKeys in
                            _ = try await gate.run { [] }
                            _ = takeKeys()
                            throw Broken()
                        }
                        return false
                    } catch is Broken {
                        return true
                    }
                }
                await Self.waitUntil(batcher, holds: index + 1)
            }
            gate.open()
            for try await failed in group { #expect(failed) }
        }
        let source = Source()
        source.open()
        #expect(try await batcher.load(7) { try await source.run($0) } == 14)
    }

    /// A stress test of the hand-over next to cancellations, 200 times. It does not force the narrowest interleaving
    /// (the read given the lead cancelled in the same instant, which `promote` answers by passing the lead on); with
    /// that fix removed it still passed three runs out of three.
    @Test("Waiting reads get a leader when a cancellation comes with the hand-over")
    func cancellationsRacingTheLead() async throws {
        for _ in 0..<200 {
            let batcher = StatementBatcher<Int, Int>()
            let source = Source()
            let leader = Task { try await batcher.load(1) { try await source.run($0) } }
            await Self.waitUntil(batcher, holds: 1)
            let quitter = Task { try await batcher.load(2) { try await source.run($0) } }
            await Self.waitUntil(batcher, holds: 2)
            let stayer = Task { try await batcher.load(3) { try await source.run($0) } }
            await Self.waitUntil(batcher, holds: 3)
            // The leader gives up while the read it would hand the lead to is cancelled.
            async let refused: Void = source.refuseFirstWaiting(with: Refused())
            quitter.cancel()
            await refused
            source.open()
            _ = try? await leader.value
            _ = try? await quitter.value
            #expect(try await stayer.value == 6)
            #expect(try await batcher.load(4) { try await source.run($0) } == 8)
            #expect(batcher.waitingCount == 0)
        }
    }
}
