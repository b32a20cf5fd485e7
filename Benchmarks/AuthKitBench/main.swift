// AuthKit verification benchmark: prints figures, asserts nothing.
//
//     swift run -c release AuthKitBench
//
// Verifies a typical Auth0 RS256 access token against keys served by a JWKS server on 127.0.0.1, on one and on
// two concurrent tasks, without and with the verified-token cache; then compares the uncached rate with
// `openssl speed rsa2048` (the raw RSA-2048 verify rate of this machine) in paired one-second rounds.
//
// Then it times a DPoP request (RFC 9449: the token and a fresh proof, ES256) next to a plain Bearer request with the
// same token, with and without the token cache: the difference is the proof check (parse, ES256 verify, thumbprint,
// URL normalisation, the in-memory replay store).
//
// AUTHKIT_BENCH_SECONDS (3) sets the length of the first runs, AUTHKIT_BENCH_ROUNDS (5) the paired rounds, and
// AUTHKIT_BENCH_PROFILE=1 runs only the uncached single-task loop, for `perf record`.
import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Logging

/// Prints and flushes at once, so figures appear as they are measured even through a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

let secondsPerRun = Double(ProcessInfo.processInfo.environment["AUTHKIT_BENCH_SECONDS"] ?? "") ?? 3
let logger = Logger(label: "AuthKitBench", factory: { _ in SwiftLogNoOpLogHandler() })

/// Seconds of CPU (user and system) this process has used so far, over all its threads.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// One run's figures: verifications per wall-clock second, and per second of CPU the process used.
///
/// `openssl speed` divides by CPU time (its `-elapsed` flag switches to wall-clock), so the per-CPU-second figure
/// is the one to compare with it; it also holds when other work shares the machine, where wall-clock rates drop.
struct Rate {
    var perWallSecond: Double
    var perCPUSecond: Double
}

/// Verifications per second over `secondsPerRun`, with `tasks` concurrent loops.
func measure(
    _ auth: BearerAuthenticator,
    token: String,
    tasks: Int,
    seconds: Double = secondsPerRun
) async throws -> Rate {
    // Warm up (also loads keys and fills the cache when enabled).
    for _ in 0..<200 { _ = try await auth.verify(token: token) }
    let cpuStart = processCPUSeconds()
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int64(seconds * 1000))
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                var count = 0
                while ContinuousClock.now < deadline {
                    for _ in 0..<64 { _ = try await auth.verify(token: token) }
                    count += 64
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = ContinuousClock.now - start
    let cpu = processCPUSeconds() - cpuStart
    let (seconds, attoseconds) = elapsed.components
    let wall = Double(seconds) + Double(attoseconds) / 1e18
    return Rate(perWallSecond: Double(total) / wall, perCPUSecond: Double(total) / cpu)
}

/// The same token's signature checked by swift-crypto alone (SHA-256 of the signing input, then BoringSSL's RSA
/// verify), per CPU-second on one task: the floor under AuthKit's uncached path, since AuthKit verifies through it.
func bareRSAVerifyRate(token: String, publicKeyPEM: String, seconds: Double = secondsPerRun) throws -> Double {
    let key = try _RSA.Signing.PublicKey(pemRepresentation: publicKeyPEM)
    let lastDot = token.utf8.lastIndex(of: UInt8(ascii: "."))!
    let signingInput = Array(token.utf8[..<lastDot])
    var encoded = String(token[token.index(after: lastDot)...])
        .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    encoded += String(repeating: "=", count: (4 - encoded.utf8.count % 4) % 4)
    let signature = _RSA.Signing.RSASignature(rawRepresentation: Data(base64Encoded: encoded)!)
    func verify() -> Bool {
        signingInput.withUnsafeBytes { input in
            key.isValidSignature(signature, for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        }
    }
    precondition(verify(), "the bare verification must accept the benchmark's token")
    let cpuStart = processCPUSeconds()
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    var count = 0
    while ContinuousClock.now < deadline {
        for _ in 0..<64 where verify() { count += 1 }
    }
    return Double(count) / (processCPUSeconds() - cpuStart)
}

/// `openssl speed` RSA-2048 verify/s, or `nil` if openssl is not installed.
///
/// `openssl speed` times itself with SIGALRM. Threads of this process (the JWKS server's, the HTTP client's) block
/// signals, and a child inherits the spawning thread's mask, so the child is spawned with an empty mask and SIGALRM
/// at its default action; otherwise its timer could never fire.
func opensslVerifyRate(seconds: Int, multi: Int? = nil) -> Double? {
    var arguments = ["openssl", "speed", "-seconds", "\(seconds)"]
    if let multi { arguments += ["-multi", "\(multi)"] }
    arguments.append("rsa2048")

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var alarm = sigset_t()
    sigemptyset(&alarm)
    sigaddset(&alarm, SIGALRM)
    posix_spawnattr_setsigdefault(&attributes, &alarm)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var pipeEnds: [Int32] = [0, 0]
    guard pipe(&pipeEnds) == 0 else { return nil }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addclose(&actions, pipeEnds[0])

    let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var child = pid_t()
    let spawned = posix_spawn(&child, "/usr/bin/env", &actions, &attributes, argv, environ)
    close(pipeEnds[1])
    guard spawned == 0 else {
        close(pipeEnds[0])
        return nil
    }
    var output = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(pipeEnds[0], &chunk, chunk.count)
        if count <= 0 { break }
        output += chunk[..<count]
    }
    close(pipeEnds[0])
    var status: Int32 = 0
    waitpid(child, &status, 0)
    // "rsa 2048 bits 0.000684s 0.000020s   1462.0  49133.3" (sign/s, verify/s are the last two columns)
    for line in String(decoding: output, as: UTF8.self).split(separator: "\n")
    where line.hasPrefix("rsa") && line.contains("2048 bits") {
        if let last = line.split(separator: " ").last, let rate = Double(last) { return rate }
    }
    return nil
}

/// Microseconds per `authenticate` over `requests` (each used once), wall-clock and CPU, on one task.
func microsecondsPerRequest(
    _ auth: BearerAuthenticator,
    _ requests: [HTTPFields],
    target: DPoPRequest
) async throws -> (wall: Double, cpu: Double) {
    let cpuStart = processCPUSeconds()
    let start = ContinuousClock.now
    for fields in requests { _ = try await auth.authenticate(fields, request: target) }
    let elapsed = ContinuousClock.now - start
    let (seconds, attoseconds) = elapsed.components
    let wall = Double(seconds) + Double(attoseconds) / 1e18
    return (wall / Double(requests.count) * 1e6, (processCPUSeconds() - cpuStart) / Double(requests.count) * 1e6)
}

/// A DPoP request next to a Bearer request, with `tokenCacheSize` entries of token cache.
func compareDPoP(server: JWKSTestServer, audience: String, tokenCacheSize: Int, count: Int) async throws {
    var configuration = AuthConfiguration(issuer: server.issuerURL, audiences: [audience])
    configuration.tokenCacheSize = tokenCacheSize
    let auth = BearerAuthenticator(configuration: configuration, httpClient: .shared, logger: logger)
    try await auth.prefetchKeys()
    let key = DPoPTestKey()
    let claims = TestTokenIssuer.claims(
        issuer: server.issuerURL,
        audience: [.string(audience)],
        subject: "auth0|64f1c2e9a3b4c5d6e7f80912",
        lifetime: .seconds(86_400),
        extra: ["scope": "openid read:timesheets", "azp": "kZ3xP9wQ2mN7vB4cL8tY1rE6uI0oA5sD"]
    )
    let bearerToken = server.issuer.mint(claims)
    let boundToken = server.issuer.mint(claims.merging(["cnf": ["jkt": .string(key.thumbprint)]]) { $1 })
    let url = "https://api.exampleco.com/timesheets"
    let target = DPoPRequest(method: "GET", url: url)
    let bearer = [HTTPFields](repeating: [.authorization: "Bearer \(bearerToken)"], count: count)
    // Proofs are made before the clock starts: the client's signing is not the server's cost.
    let proofs: [HTTPFields] = (0..<count).map { _ in
        [
            .authorization: "DPoP \(boundToken)",
            HTTPField.Name("DPoP")!: key.proof(method: "GET", url: url, accessToken: boundToken),
        ]
    }
    _ = try await microsecondsPerRequest(auth, Array(bearer.prefix(200)), target: target)
    let plain = try await microsecondsPerRequest(auth, bearer, target: target)
    let dpop = try await microsecondsPerRequest(auth, proofs, target: target)
    let label = tokenCacheSize == 0 ? "no cache  " : "with cache"
    say(
        String(
            format: "  %@: Bearer %7.1f µs, DPoP %7.1f µs per request (CPU %.1f / %.1f µs): the proof adds %.1f µs",
            label,
            plain.wall,
            dpop.wall,
            plain.cpu,
            dpop.cpu,
            dpop.cpu - plain.cpu
        )
    )
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func format(_ rate: Double) -> String {
    String(format: "%10.0f verify/s", rate)
}

let profiling = ProcessInfo.processInfo.environment["AUTHKIT_BENCH_PROFILE"] == "1"
let rounds = Int(ProcessInfo.processInfo.environment["AUTHKIT_BENCH_ROUNDS"] ?? "") ?? 5

let issuer = try TestTokenIssuer()
try await JWKSTestServer.withRunning(issuer) { server in
    let audience = "https://api.exampleco.com"
    let token = issuer.mint(
        TestTokenIssuer.claims(
            issuer: server.issuerURL,
            audience: [.string(audience), .string(server.issuerURL + "userinfo")],
            subject: "auth0|64f1c2e9a3b4c5d6e7f80912",
            lifetime: .seconds(86_400),
            extra: [
                "scope": "openid profile email read:timesheets write:timesheets",
                "permissions": ["read:timesheets", "write:timesheets", "approve:timesheets"],
                "https://api.exampleco.com/email": "ada@exampleco.com",
                "azp": "kZ3xP9wQ2mN7vB4cL8tY1rE6uI0oA5sD",
            ]
        )
    )
    say(
        "AuthKit RS256 verification (token \(token.utf8.count) bytes, \(Int(secondsPerRun)) s per run, "
            + "\(ProcessInfo.processInfo.activeProcessorCount) cores)"
    )

    var noCache = AuthConfiguration(issuer: server.issuerURL, audiences: [audience])
    noCache.tokenCacheSize = 0
    var withCache = noCache
    withCache.tokenCacheSize = 10_000
    let uncached = BearerAuthenticator(configuration: noCache, httpClient: .shared, logger: logger)
    let cached = BearerAuthenticator(configuration: withCache, httpClient: .shared, logger: logger)
    try await uncached.prefetchKeys()
    try await cached.prefetchKeys()

    func line(_ label: String, _ rate: Rate) -> String {
        "  \(label): \(format(rate.perWallSecond)) wall, \(format(rate.perCPUSecond)) per CPU-second"
    }
    let one = try await measure(uncached, token: token, tasks: 1)
    say(line("no cache,   1 task ", one))
    // AUTHKIT_BENCH_PROFILE=1 stops here: a clean single-task uncached run for `perf record`.
    if profiling { return }
    let two = try await measure(uncached, token: token, tasks: 2)
    say(
        line("no cache,   2 tasks", two)
            + "  (\(String(format: "%.2f", two.perWallSecond / one.perWallSecond))x of 1 task, wall)"
    )
    let cachedOne = try await measure(cached, token: token, tasks: 1)
    say(line("with cache, 1 task ", cachedOne))
    let cachedTwo = try await measure(cached, token: token, tasks: 2)
    say(line("with cache, 2 tasks", cachedTwo))
    say("  JWKS requests during the run: \(server.jwksRequestCount)")

    let dpopCount = Int(secondsPerRun * 5_000)
    say("DPoP (RFC 9449) next to Bearer, one task, \(dpopCount) requests each, ES256 proofs:")
    try await compareDPoP(server: server, audience: audience, tokenCacheSize: 10_000, count: dpopCount)
    try await compareDPoP(server: server, audience: audience, tokenCacheSize: 0, count: dpopCount)

    // Paired rounds: openssl and AuthKit one after the other, so both see the same machine. A busy neighbour
    // slows both alike, and the median ratio holds where a single pair of runs would not.
    var singleRatios: [Double] = []
    var doubleRatios: [Double] = []
    var bareRatios: [Double] = []
    var oursOverBare: [Double] = []
    var openssl: (single: [Double], double: [Double]) = ([], [])
    for _ in 0..<rounds {
        guard let single = opensslVerifyRate(seconds: 1) else { break }
        let ours = try await measure(uncached, token: token, tasks: 1, seconds: 1)
        let bare = try bareRSAVerifyRate(token: token, publicKeyPEM: issuer.publicKeyPEM, seconds: 1)
        openssl.single.append(single)
        singleRatios.append(ours.perCPUSecond / single)
        bareRatios.append(bare / single)
        oursOverBare.append(ours.perCPUSecond / bare)
        if let double = opensslVerifyRate(seconds: 1, multi: 2) {
            let oursTwo = try await measure(uncached, token: token, tasks: 2, seconds: 1)
            openssl.double.append(double)
            doubleRatios.append(oursTwo.perWallSecond / double)
        }
    }
    if singleRatios.isEmpty {
        say("  openssl not available: no comparison")
    } else {
        func percent(_ ratio: Double) -> String { String(format: "%.0f%%", ratio * 100) }
        say(
            "  openssl speed rsa2048, 1 core : \(format(median(openssl.single)))  "
                + "(median of \(singleRatios.count) one-second runs)"
        )
        say(
            "  AuthKit no-cache, 1 task, per CPU-second = \(percent(median(singleRatios))) of openssl (target >= 80%),"
                + " median of \(singleRatios.count) paired rounds, "
                + "range \(percent(singleRatios.min()!))-\(percent(singleRatios.max()!))"
        )
        say(
            "  swift-crypto's bare RSA verify (SHA-256 + BoringSSL), per CPU-second = \(percent(median(bareRatios))) of"
                + " openssl, range \(percent(bareRatios.min()!))-\(percent(bareRatios.max()!)): the ceiling for AuthKit"
        )
        say(
            "  AuthKit no-cache = \(percent(median(oursOverBare))) of the bare verify (the rest is base64url, JSON,"
                + " claims and the principal), range \(percent(oursOverBare.min()!))-\(percent(oursOverBare.max()!))"
        )
        if !doubleRatios.isEmpty {
            say("  openssl speed rsa2048, 2 cores: \(format(median(openssl.double)))  (-multi 2)")
            say(
                "  AuthKit no-cache, 2 tasks, wall-clock = \(percent(median(doubleRatios))) of openssl -multi 2,"
                    + " range \(percent(doubleRatios.min()!))-\(percent(doubleRatios.max()!))"
            )
        }
    }
    let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first ?? "?"
    say("  load average during the run: \(load) (wall-clock figures are only meaningful on an idle machine)")
}
