import ArgumentParser
import Foundation
import TimesheetDevTools

/// `timesheets token`: mints a dev-mode access token with the dev signing key, printing only the token so
/// `curl -H "Authorization: Bearer $(swift run timesheets token)"` works.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a dev-mode access token (for the API started by `timesheets dev`)."
    )

    @Option(help: "employee, contractor, manager or machine.")
    var user: String = "employee"
    @Option(help: "Space-separated scopes; default: the user's role permissions.")
    var scope: String?
    @Option(help: "Lifetime such as 30m, 1h or 2d.")
    var expiresIn: String = "1h"
    @Option(help: "Port of the dev server (its issuer is http://127.0.0.1:PORT/dev-idp/).")
    var port: Int = ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? 8080
    @Option(help: "Where dev mode keeps its signing key.")
    var dataDir: String = ".data"
    @Option(help: "The sub claim; default the user's. With --count, each token's sub ends in -0, -1, ...")
    var subject: String?
    @Option(help: "How many tokens to print, one a line (the load benchmark mints one per simulated user).")
    var count: Int = 1

    func validate() throws {
        guard DevAccount.named(user) != nil else {
            throw ValidationError("Unknown user '\(user)'; use employee, contractor, manager or machine.")
        }
        guard Self.lifetime(expiresIn) != nil else {
            throw ValidationError("--expires-in takes a number and a unit: 30s, 15m, 1h or 2d.")
        }
        guard (1...1_000_000).contains(count) else {
            throw ValidationError("--count must be from 1 to 1000000.")
        }
    }

    func run() async throws {
        let account = DevAccount.named(user)!
        let issuer = try DevSigningKey(path: dataDir + "/dev-idp-key.pem").load()
        let minter = DevTokenMinter(
            issuer: issuer,
            issuerURL: "http://127.0.0.1:\(port)/dev-idp/",
            audience: DevCommand.audience
        )
        let scopes = scope.map { $0.split(separator: " ").map(String.init) }
        let clientID =
            account == DevAccount.machine ? DevIdentityProvider.machineClientID : DevIdentityProvider.webClientID
        let lifetime = Self.lifetime(expiresIn)!
        guard count > 1 else {
            print(minter.token(for: account, subject: subject, scopes: scopes, lifetime: lifetime, clientID: clientID))
            return
        }
        // RSA signing is the cost (about a millisecond each): sign in one task per core, print in order.
        let base = subject ?? account.subject
        let count = self.count
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunks = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for worker in 0..<workers {
                group.addTask {
                    let range = (count * worker / workers)..<(count * (worker + 1) / workers)
                    return (
                        worker,
                        range.map { index in
                            minter.token(
                                for: account,
                                subject: "\(base)-\(index)",
                                scopes: scopes,
                                lifetime: lifetime,
                                clientID: clientID
                            )
                        }
                    )
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        var output = ""
        for worker in 0..<workers { output += chunks[worker, default: []].joined(separator: "\n") + "\n" }
        FileHandle.standardOutput.write(Data(output.utf8))
    }

    static func lifetime(_ text: String) -> Duration? {
        // At most a year, so the arithmetic below cannot overflow.
        guard let unit = text.last, let value = Int(text.dropLast()), (1...525_600).contains(value) else { return nil }
        switch unit {
        case "s": return .seconds(value)
        case "m": return .seconds(value * 60)
        case "h": return .seconds(value * 3_600)
        case "d": return .seconds(value * 86_400)
        default: return nil
        }
    }
}
