// AuthKit verification benchmark: prints figures, asserts nothing.
//
//     swift run -c release AuthKitBench
//
// Verifies a typical Auth0 RS256 access token against keys served by a JWKS server on 127.0.0.1, on one and on
// two concurrent tasks, without and with the verified-token cache, then runs `openssl speed -seconds 3 rsa2048`
// for the raw RSA-2048 verify rate of this machine.
import AsyncHTTPClient
import AuthKit
import AuthKitTesting
import Foundation
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
func measure(_ auth: BearerAuthenticator, token: String, tasks: Int) async throws -> Rate {
    // Warm up (also loads keys and fills the cache when enabled).
    for _ in 0..<200 { _ = try await auth.verify(token: token) }
    let cpuStart = processCPUSeconds()
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int64(secondsPerRun * 1000))
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

/// `openssl speed` RSA-2048 verify/s, or `nil` if openssl is not installed.
func opensslVerifyRate(multi: Int?) -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    var arguments = ["openssl", "speed", "-seconds", "3"]
    if let multi { arguments += ["-multi", "\(multi)"] }
    process.arguments = arguments + ["rsa2048"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    // "rsa 2048 bits 0.000684s 0.000020s   1462.0  49133.3" (sign/s, verify/s are the last two columns)
    for line in output.split(separator: "\n") where line.hasPrefix("rsa") && line.contains("2048 bits") {
        if let last = line.split(separator: " ").last, let rate = Double(last) { return rate }
    }
    return nil
}

func format(_ rate: Double) -> String {
    String(format: "%10.0f verify/s", rate)
}

// openssl first, before any server or client thread exists: `openssl speed` times itself with SIGALRM, and a child
// spawned later inherits a signal mask in which SIGALRM may be blocked (then it never stops).
let profiling = ProcessInfo.processInfo.environment["AUTHKIT_BENCH_PROFILE"] == "1"
if !profiling { say("openssl speed -seconds 3 rsa2048 ...") }
let opensslSingle = profiling ? nil : opensslVerifyRate(multi: nil)
let opensslDouble = opensslSingle == nil ? nil : opensslVerifyRate(multi: 2)

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
    say("AuthKit RS256 verification (token \(token.utf8.count) bytes, \(Int(secondsPerRun)) s per run, \(ProcessInfo.processInfo.activeProcessorCount) cores)")

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
    say(line("no cache,   2 tasks", two) + "  (\(String(format: "%.2f", two.perWallSecond / one.perWallSecond))x of 1 task, wall)")
    let cachedOne = try await measure(cached, token: token, tasks: 1)
    say(line("with cache, 1 task ", cachedOne))
    let cachedTwo = try await measure(cached, token: token, tasks: 2)
    say(line("with cache, 2 tasks", cachedTwo))
    say("  JWKS requests during the run: \(server.jwksRequestCount)")

    if let single = opensslSingle {
        say("  openssl,    1 core : \(format(single))  (openssl speed divides by CPU time)")
        say("  AuthKit no-cache 1 task = \(String(format: "%.0f", one.perCPUSecond / single * 100))% of openssl per CPU-second (target >= 80%), \(String(format: "%.0f", one.perWallSecond / single * 100))% wall-clock")
        if let double = opensslDouble {
            say("  openssl,    2 cores: \(format(double))  (-multi 2)")
            say("  AuthKit no-cache 2 tasks = \(String(format: "%.0f", two.perCPUSecond * 2 / double * 100))% of openssl -multi 2 per 2 CPU-seconds, \(String(format: "%.0f", two.perWallSecond / double * 100))% wall-clock")
        }
    } else {
        say("  openssl not available")
    }
    let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first ?? "?"
    say("  load average during the run: \(load) (wall-clock figures are only meaningful on an idle machine)")
}
