import AuthKitTesting
import Foundation
import Synchronization
import Testing

@testable import AuthKit

@Suite("Verified-token cache")
struct TokenCacheTests {
    @Test("A repeated token is cached; revocation is still consulted on a hit")
    func revocationOnHit() async throws {
        try await withHarness { h in
            let revoked = Mutex<Set<String>>([])
            let auth = h.authenticator({ _ in }, isRevoked: { _, id in revoked.withLock { $0.contains(id ?? "") } })
            let token = h.token(["jti": "abc"])
            let checked1 = try await auth.checked(token)
            #expect(checked1.tokenID == "abc")
            #expect(auth.cachedTokenCount == 1)
            let checked2 = try await auth.checked(token)
            #expect(checked2.tokenID == "abc")
            #expect(auth.cachedTokenCount == 1)
            revoked.withLock { _ = $0.insert("abc") }
            let f = await failure { () async throws(AuthFailure) in try await auth.verify(token: token) }
            #expect(f?.reason == .revoked)
        }
    }

    @Test("A cached entry never outlives the token's exp")
    func expiry() async throws {
        try await withHarness { h in
            let token = h.token(lifetime: .seconds(30))
            _ = try await h.auth.verify(token: token)
            #expect(h.auth.cachedTokenCount == 1)
            h.clock.advance(by: .seconds(36))
            let f = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: token) }
            #expect(f?.reason == .expired)
        }
    }

    @Test("The cache is bounded and can be disabled")
    func bounded() async throws {
        let configure: (inout AuthConfiguration) -> Void = { $0.tokenCacheSize = 32 }
        try await withHarness(configure: configure) { h in
            for index in 0..<200 {
                _ = try await h.auth.verify(token: h.token(["jti": .string("\(index)")]))
            }
            // The bound is the whole cache's; a shard left empty may take one entry beyond it (15 at most).
            #expect(h.auth.cachedTokenCount <= 32 + 15)
            #expect(h.auth.cachedTokenCount > 0)
            let off = h.authenticator { $0.tokenCacheSize = 0 }
            _ = try await off.verify(token: h.token())
            #expect(off.cachedTokenCount == 0)
        }
    }

    @Test("A cache sized for N tokens keeps N distinct tokens used in turn")
    func holdsItsCapacity() async throws {
        // Before the bound covered the whole cache, each of the 16 shards kept a fixed 1/16 of it: the shards that
        // got more keys than that evicted, in turn, every token they held before its next use.
        let configure: (inout AuthConfiguration) -> Void = { $0.tokenCacheSize = 400 }
        try await withHarness(configure: configure) { h in
            let tokens = (0..<400).map { h.token(["jti": .string("user-\($0)")]) }
            for _ in 0..<2 {
                for token in tokens { _ = try await h.auth.verify(token: token) }
                #expect(h.auth.cachedTokenCount == 400)
            }
            for index in 0..<100 {
                _ = try await h.auth.verify(token: h.token(["jti": .string("more-\(index)")]))
            }
            #expect(h.auth.cachedTokenCount >= 400)
            #expect(h.auth.cachedTokenCount <= 400 + 15)
        }
    }

    @Test("Tokens used in turn, a tenth more than the cache holds, still mostly hit")
    func workingSetBeyondCapacity() async throws {
        // Evicting the oldest (or least recently used) entry would miss on every lookup here: the entry evicted is
        // always the next one needed. The scenario of scripts/bench: 10,000 users and 100 managers, a 10,000 cache.
        try await withHarness { h in
            let principal = try await h.auth.verify(token: h.token())
            let cache = VerifiedTokenCache(capacity: 1_000)
            let entry = VerifiedTokenCache.Entry(
                principal: principal,
                keyID: "k",
                issuerIndex: 0,
                expiresAt: .distantFuture
            )
            let keys = (0..<1_100).map { VerifiedTokenCache.key(for: "token-\($0)") }
            var hits = 0
            for round in 0..<6 {
                for key in keys {
                    if cache.entry(for: key, now: Date()) != nil {
                        if round > 0 { hits += 1 }
                    } else {
                        cache.insert(entry, for: key)
                    }
                }
            }
            #expect(cache.count <= 1_000 + 15)
            #expect(Double(hits) / Double(5 * keys.count) > 0.6, "hits: \(hits) of \(5 * keys.count)")
        }
    }

    @Test("Failed tokens are never cached")
    func failuresNotCached() async throws {
        try await withHarness { h in
            _ = await failure { () async throws(AuthFailure) in try await h.auth.verify(token: h.token(["aud": "x"])) }
            #expect(h.auth.cachedTokenCount == 0)
        }
    }
}
