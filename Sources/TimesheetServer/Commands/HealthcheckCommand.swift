import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `timesheets healthcheck`: asks the local server's readiness route; exit 0 when ready, 1 otherwise.
/// Lets a container image have a HEALTHCHECK without curl.
struct HealthcheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 if the local server is ready (GET /health/ready), else 1."
    )

    @Option(help: "Port of the local server (PORT, default 8080).")
    var port: Int?
    @Option(help: "Seconds to wait for an answer.")
    var timeout: Int = 3

    func run() async throws {
        let port = self.port ?? ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? 8080
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/ready")
        request.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout)))
            let body = try await response.body.collect(upTo: 64 * 1024)
            print(String(buffer: body))
            if response.status == .ok { return }
        } catch {
            print("not ready: \(error)")
        }
        throw ExitCode(1)
    }
}
