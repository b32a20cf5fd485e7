import Crypto
import Foundation
import Synchronization

/// Tokens that already passed signature and claim checks, keyed by the SHA-256 of the whole token.
///
/// Bounded: it holds up to `capacity` tokens (at most 15 more, see `insert`) and then evicts the oldest entry of the
/// shard a new token falls into. Split into shards so two cores rarely wait for each other, and an entry never
/// outlives its token's `exp`. A hit skips the signature check only: the caller still consults the revocation hook
/// and the extra claim checks, and still requires the signing key to be in the current key set.
///
/// The bound is on the whole cache, not on each shard: a fixed share per shard would overflow the shards that happen
/// to get more than their share of `capacity` keys, and with tokens used in turn (many users, one token each) every
/// token of an overflowing shard would be evicted before its next use, so a cache sized for the working set missed on
/// nearly half of it.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let principal: Principal
        /// The `kid` that signed it; `nil` for HMAC tokens.
        let keyID: String?
        let expiresAt: Date
    }

    private struct Stored {
        var entry: Entry
        /// The insertion that made this entry: an eviction skips an `order` slot of an earlier insertion.
        var insertion: UInt64
    }

    private struct Shard {
        var entries: [SHA256Digest: Stored] = [:]
        /// Insertions oldest first from `head` on. A slot whose key was removed or inserted again since is stale.
        var order: [(key: SHA256Digest, insertion: UInt64)] = []
        var head = 0
        var insertions: UInt64 = 0

        /// Removes the oldest live entry; `false` when the shard has none.
        mutating func evictOldest() -> Bool {
            while head < order.count {
                let slot = order[head]
                head += 1
                if entries[slot.key]?.insertion == slot.insertion {
                    entries[slot.key] = nil
                    compactIfSparse()
                    return true
                }
            }
            compactIfSparse()
            return false
        }

        /// Drops consumed and stale slots once they outnumber the live ones, so `order` stays O(live entries).
        mutating func compactIfSparse() {
            guard order.count > 2 * entries.count + 16 else { return }
            let live = order[head...].filter { entries[$0.key]?.insertion == $0.insertion }
            order = Array(live)
            head = 0
        }
    }

    private final class LockedShard: Sendable {
        let lock = Mutex(Shard())
    }

    private static let shardCount = 16
    private let shards: [LockedShard]
    private let capacity: Int
    /// Entries in all shards; changed only while holding the lock of the shard that changes.
    private let total = Atomic<Int>(0)

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        shards = (0..<Self.shardCount).map { _ in LockedShard() }
    }

    typealias Key = SHA256Digest

    static func key(for token: String) -> SHA256Digest {
        var token = token
        return token.withUTF8 { SHA256.hash(data: $0) }
    }

    private func shard(for key: SHA256Digest) -> LockedShard {
        shards[key.withUnsafeBytes { Int($0[0]) } % Self.shardCount]
    }

    func entry(for key: SHA256Digest, now: Date) -> Entry? {
        shard(for: key).lock.withLock { shard in
            guard let stored = shard.entries[key] else { return nil }
            guard now < stored.entry.expiresAt else {
                shard.entries[key] = nil
                total.subtract(1, ordering: .relaxed)
                return nil
            }
            return stored.entry
        }
    }

    /// Adds `entry`. When the cache is full it first evicts the oldest entry of the key's shard; a shard with none
    /// to give takes the entry anyway, so the cache can exceed `capacity` by at most 15 entries (one per other shard).
    func insert(_ entry: Entry, for key: SHA256Digest) {
        shard(for: key).lock.withLock { shard in
            shard.insertions += 1
            let insertion = shard.insertions
            if shard.entries[key] != nil {
                shard.entries[key] = Stored(entry: entry, insertion: insertion)
                shard.order.append((key, insertion))
                shard.compactIfSparse()
                return
            }
            if total.load(ordering: .relaxed) >= capacity, shard.evictOldest() {
                total.subtract(1, ordering: .relaxed)
            }
            shard.entries[key] = Stored(entry: entry, insertion: insertion)
            shard.order.append((key, insertion))
            total.add(1, ordering: .relaxed)
        }
    }

    func remove(_ key: SHA256Digest) {
        shard(for: key).lock.withLock { shard in
            if shard.entries.removeValue(forKey: key) != nil {
                total.subtract(1, ordering: .relaxed)
                shard.compactIfSparse()
            }
        }
    }

    var count: Int {
        shards.reduce(0) { total, shard in total + shard.lock.withLock { $0.entries.count } }
    }
}
