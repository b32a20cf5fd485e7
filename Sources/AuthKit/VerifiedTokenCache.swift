import Crypto
import Foundation
import Synchronization

/// Tokens that already passed signature and claim checks, keyed by the SHA-256 of the whole token.
///
/// Bounded (oldest entries are evicted first), split into shards so two cores rarely wait for each other, and an
/// entry never outlives its token's `exp`. A hit skips the signature check only: the caller still consults the
/// revocation hook and the extra claim checks, and still requires the signing key to be in the current key set.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let principal: Principal
        /// The `kid` that signed it; `nil` for HMAC tokens.
        let keyID: String?
        /// Which issuer's key set `keyID` belongs to.
        let issuerIndex: Int
        let expiresAt: Date
    }

    private struct Shard {
        var entries: [SHA256Digest: Entry] = [:]
        var order: [SHA256Digest] = []
        var head = 0
    }

    private final class LockedShard: Sendable {
        let lock = Mutex(Shard())
    }

    private static let shardCount = 16
    private let shards: [LockedShard]
    private let capacityPerShard: Int

    init(capacity: Int) {
        capacityPerShard = max(1, (capacity + Self.shardCount - 1) / Self.shardCount)
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
            guard let entry = shard.entries[key] else { return nil }
            guard now < entry.expiresAt else {
                shard.entries[key] = nil
                return nil
            }
            return entry
        }
    }

    func insert(_ entry: Entry, for key: SHA256Digest) {
        let capacity = capacityPerShard
        shard(for: key).lock.withLock { shard in
            if shard.entries.updateValue(entry, forKey: key) != nil { return }
            if shard.order.count < capacity {
                shard.order.append(key)
            } else {
                // A ring of insertion order: overwrite (and evict) the oldest.
                shard.entries[shard.order[shard.head]] = nil
                shard.order[shard.head] = key
                shard.head = (shard.head + 1) % capacity
            }
        }
    }

    func remove(_ key: SHA256Digest) {
        shard(for: key).lock.withLock { shard in shard.entries[key] = nil }
    }

    var count: Int {
        shards.reduce(0) { total, shard in total + shard.lock.withLock { $0.entries.count } }
    }
}
