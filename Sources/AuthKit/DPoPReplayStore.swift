import Foundation
import Synchronization

/// Where accepted DPoP proofs are remembered, so that each is accepted once (RFC 9449 §11.1).
///
/// Share one store between every replica of a service (a database table, say): a store per process lets a proof
/// captured at one replica be replayed at another. AuthKit ships ``InMemoryDPoPReplayStore`` for one process and
/// tests.
public protocol DPoPReplayStore: Sendable {
    /// Records `key` until `expiresAt` if it is not recorded yet, atomically.
    ///
    /// - Returns: `true` when the key was new (the proof is accepted), `false` when it was already recorded.
    /// - Throws: When the store cannot be asked; the proof is then refused (fail closed).
    func recordFirstUse(of key: String, expiresAt: Date, now: Date) async throws -> Bool
}

/// A ``DPoPReplayStore`` in this process's memory, bounded: expired keys are purged as it fills, and when it is full
/// of unexpired keys it refuses (throws) rather than forget one.
public final class InMemoryDPoPReplayStore: DPoPReplayStore {
    public struct Full: Error, CustomStringConvertible {
        public var description: String { "the in-memory DPoP replay store is full" }
    }

    private struct State {
        var expiries: [String: Date] = [:]
        var insertsSincePurge = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    /// - Parameter capacity: The most keys held at once. Default 1,000,000 (about 100 MB at worst).
    public init(capacity: Int = 1_000_000) {
        self.capacity = max(1, capacity)
    }

    public func recordFirstUse(of key: String, expiresAt: Date, now: Date) async throws -> Bool {
        try state.withLock { state throws(Full) -> Bool in
            if let expiry = state.expiries[key], expiry > now { return false }
            state.insertsSincePurge += 1
            if state.expiries.count >= capacity || state.insertsSincePurge >= 4_096 {
                state.expiries = state.expiries.filter { $0.value > now }
                state.insertsSincePurge = 0
                guard state.expiries.count < capacity else { throw Full() }
            }
            state.expiries[key] = expiresAt
            return true
        }
    }

    /// Keys held now (expired ones included until the next purge).
    public var count: Int { state.withLock { $0.expiries.count } }
}
