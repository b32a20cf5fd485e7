import AsyncHTTPClient
import Foundation
import LocalPostgres
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// The `timesheets` executable that `swift build` put next to the test bundle.
func timesheetsExecutable() throws -> URL {
    var directory = Bundle.main.bundleURL
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("timesheets")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory.deleteLastPathComponent()
    }
    let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent(".build/debug/timesheets")
    guard FileManager.default.isExecutableFile(atPath: fallback.path) else {
        throw ProcessFailure("the timesheets executable was not built; run `swift build --build-tests` first")
    }
    return fallback
}

struct ProcessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that is free now, for a child process to bind (see ``LoopbackPorts``).
func freePort() async throws -> Int {
    try LoopbackPorts.free()
}

/// A child process whose output is collected, killed when the test ends if still running.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let collected = CollectedOutput()

    init(_ executable: URL, arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        // A crash prints the runtime's message and the crashed thread's frames only: short enough that a log cut to
        // its head and tail still shows them.
        env["SWIFT_BACKTRACE"] =
            "enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none,limit=40"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Read on a thread of its own until end of file, so that what the process wrote just before it exited is
        // in `text` once `waitForExit()` returns (a readability handler could still hold it).
        let reader = output.fileHandleForReading
        let collected = self.collected
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(reader.fileDescriptor, &chunk, chunk.count)
                if count > 0 {
                    collected.append(chunk[..<count])
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            collected.finish()
        }
    }

    var text: String { collected.text }

    /// The runtime's crash report, if the process crashed: the `Fatal error` line and the crashed thread's frames,
    /// for a failure message to end with.
    var crashReport: String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.contains("Fatal error") || $0.contains("Program crashed") })
        else { return "" }
        return "crash report:\n" + lines[start...].prefix(60).joined(separator: "\n")
    }

    func terminate() { if process.isRunning { process.terminate() } }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.interrupt()
                kill(process.processIdentifier, SIGKILL)
                throw ProcessFailure("process did not exit within \(timeout); output:\n\(text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // The output ends when the last process holding the pipe exits: normally at once; a grandchild that kept
        // it is not waited for beyond two seconds.
        let outputDeadline = ContinuousClock.now + .seconds(2)
        while !collected.isFinished, ContinuousClock.now < outputDeadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A child's output as its reader thread collects it.
private final class CollectedOutput: Sendable {
    private let state = Mutex<(bytes: [UInt8], isFinished: Bool)>(([], false))

    func append(_ bytes: ArraySlice<UInt8>) { state.withLock { $0.bytes.append(contentsOf: bytes) } }
    func finish() { state.withLock { $0.isFinished = true } }
    var isFinished: Bool { state.withLock { $0.isFinished } }
    var text: String { state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
}

/// A small HTTP client for talking to child processes on 127.0.0.1 (redirects are not followed).
struct LoopbackClient {
    let client: HTTPClient
    let base: String

    init(port: Int) {
        client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(2), read: .seconds(20))
            )
        )
        base = "http://127.0.0.1:\(port)"
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func send(
        _ method: HTTPMethodName,
        _ path: String,
        headers: [String: String] = [:],
        body: String? = nil
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method.rawValue)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 10 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), headers: fields, body: Data(buffer: data))
    }

    /// Polls until `path` answers 200 or the deadline passes.
    func waitUntilUp(
        _ path: String = "/health/live",
        timeout: Duration = .seconds(90),
        process: ChildProcess? = nil
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reply = try? await send(.GET, path), reply.status == 200 { return }
            if let process, !process.process.isRunning {
                throw ProcessFailure("the process exited early; output:\n\(process.text)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ProcessFailure("\(base)\(path) did not come up; output:\n\(process?.text ?? "")")
    }

    func shutdown() async throws { try await client.shutdown() }
}

enum HTTPMethodName: String {
    case GET, POST, PUT, PATCH, DELETE
}
