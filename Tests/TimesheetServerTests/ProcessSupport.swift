import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
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

/// A free TCP port on 127.0.0.1 (bound, read and released).
func freePort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(
        host: "127.0.0.1",
        port: 0
    ).get()
    let port = channel.localAddress!.port!
    try await channel.close().get()
    return port
}

/// A child process whose output is collected, killed when the test ends if still running.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let lock = NSLock()
    private var collected = Data()

    init(_ executable: URL, arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.collected.append(data) }
        }
        try process.run()
    }

    var text: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

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
        output.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
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
