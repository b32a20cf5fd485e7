import Crypto
import Foundation
import Synchronization

/// Tokens that already passed signature and claim checks, keyed by the SHA-256 of the whole token.
///
/// Bounded: it holds up to `capacity` tokens (at most 15 more, see `insert`); when full, a new token evicts a random
/// entry of the shard it falls into. Split into shards so two cores rarely wait for each other, and an entry never
/// outlives its token's `exp`. A hit skips the signature check only: the caller still consults the revocation hook
/// and the extra claim checks, and still requires the signing key to be in the current key set.
///
/// Why these two choices: tokens are typically used in turn (many users, one token each). A fixed share of the
/// capacity per shard overflowed the shards that drew more than their share of keys, and evicting the oldest entry
/// (or the least recently used) turns a working set even slightly larger than the cache into a miss on every
/// request, since the entry evicted is always the next one needed. A random victim keeps most of the working set.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let principal: Principal
        /// The `kid` that signed it; `nil` for HMAC tokens.
        let keyID: String?
        /// Which issuer's key set `keyID` belongs to.
        let issuerIndex: Int
        let expiresAt: Date
    }

    private struct Stored {
        var entry: Entry
        /// Where its key is in `Shard.keys`.
        var slot: Int
    }

    private struct Shard {
        var entries: [SHA256Digest: Stored] = [:]
        /// Every key of `entries`, in no particular order, so that a random one is found in O(1).
        var keys: [SHA256Digest] = []

        mutating func add(_ entry: Entry, for key: SHA256Digest) {
            entries[key] = Stored(entry: entry, slot: keys.count)
            keys.append(key)
        }

        /// Removes `key`'s entry, moving the last key into its slot; `false` when there was none.
        mutating func remove(_ key: SHA256Digest) -> Bool {
            guard let stored = entries.removeValue(forKey: key) else { return false }
            let last = keys.removeLast()
            if stored.slot < keys.count {
                keys[stored.slot] = last
                entries[last]?.slot = stored.slot
            }
            return true
        }

        /// Removes a random entry; `false` when the shard is empty.
        mutating func evictOne() -> Bool {
            guard !keys.isEmpty else { return false }
            return remove(keys[Int.random(in: 0..<keys.count)])
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
                if shard.remove(key) { total.subtract(1, ordering: .relaxed) }
                return nil
            }
            return stored.entry
        }
    }

    /// Adds `entry`. When the cache is full it first evicts a random entry of the key's shard; a shard with none to
    /// give takes the entry anyway, so the cache can exceed `capacity` by at most 15 entries (one per other shard).
    func insert(_ entry: Entry, for key: SHA256Digest) {
        shard(for: key).lock.withLock { shard in
            if shard.entries[key] != nil {
                shard.entries[key]?.entry = entry
                return
            }
            if total.load(ordering: .relaxed) >= capacity, shard.evictOne() {
                total.subtract(1, ordering: .relaxed)
            }
            shard.add(entry, for: key)
            total.add(1, ordering: .relaxed)
        }
    }

    func remove(_ key: SHA256Digest) {
        shard(for: key).lock.withLock { shard in
            if shard.remove(key) { total.subtract(1, ordering: .relaxed) }
        }
    }

    var count: Int {
        shards.reduce(0) { total, shard in total + shard.lock.withLock { $0.entries.count } }
    }
}
