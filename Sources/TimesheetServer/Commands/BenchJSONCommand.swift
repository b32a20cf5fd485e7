import ArgumentParser
import Foundation
import NIOCore
import TimesheetDomain

/// `timesheets bench-json` (hidden): times the API's own JSON paths on a page of 500 entries, for
/// `scripts/bench --micro`. Prints figures; asserts nothing. Meaningful only in a release build.
struct BenchJSONCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-json", abstract: "Time JSON encoding and decoding of a page of 500 entries.",
        shouldDisplay: false)

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 2

    func run() async throws {
        let now = Date()
        let entries = (0..<500).map { index in
            let approved = index % 10 != 0
            return Timesheet(
                id: TimesheetID(Int64(1_000_000 + index)), userID: "auth0|bench-user-\(index % 50)",
                date: CalendarDay(daysSinceEpoch: 19_000 + index), project: "Project \(index % 13)",
                hours: Hours(hundredths: 100 + index % 700), notes: index % 5 == 0 ? "sprint work, \"ticket\" \(index)\t/ C:\\x\n café ✓\u{1}" : nil,
                status: approved ? .approved : .pending, createdAt: now, updatedAt: now,
                reviewedBy: approved ? "auth0|bench-manager" : nil, reviewedAt: approved ? now : nil)
        }
        let page = TimesheetPage(items: entries, nextCursor: "MTk1MDAsMTAwMDQ5OQ")
        let encoded = try JSONEncoder.api.encode(PageResponse(page))
        var writer = JSONWriter(capacity: 512)
        PageResponse(page).writeJSON(to: &writer)
        guard Data(writer.buffer.readableBytesView) == encoded else {
            throw ValidationError("JSONWriter and JSONEncoder.api disagree on the page")
        }
        let encode = try measure { _ = try JSONEncoder.api.encode(PageResponse(page)) }
        print(Self.line("encode page of 500 entries with JSONEncoder.api", encode, bytes: encoded.count))
        let write = measure {
            var writer = JSONWriter(capacity: 512)
            PageResponse(page).writeJSON(to: &writer)
        }
        print(Self.line("encode page of 500 entries (GET /timesheets?limit=500)", write, bytes: encoded.count))

        // The batch upload's body: 500 entry objects, decoded by the same reader the route uses.
        let inputs: [[String: Any]] = entries.map { entry in
            var object: [String: Any] = ["date": entry.date.description, "project": entry.project, "hours": entry.hours.value]
            if let notes = entry.notes { object["notes"] = notes }
            return object
        }
        let json = try JSONSerialization.data(withJSONObject: inputs)
        let body = ByteBuffer(bytes: json)
        let decode = try measure {
            let decoded = try RequestBodyReader.decodeJSON([TimesheetInput].self, from: body, expecting: "an array")
            precondition(decoded.count == 500)
        }
        print(Self.line("decode 500 entry inputs (POST /timesheets/upload)", decode, bytes: body.readableBytes))
    }

    /// Operations per second of `body`, run for `seconds`.
    func measure(_ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<5 { try body() }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(seconds * 1000))
        var count = 0
        while clock.now < deadline {
            try body()
            count += 1
        }
        let elapsed = clock.now - start
        return Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    static func line(_ what: String, _ perSecond: Double, bytes: Int) -> String {
        let microseconds = 1e6 / perSecond
        return "\(what): \(Int(microseconds)) µs each, \(Int(perSecond)) per second, \(bytes) bytes, "
            + "\(Int(Double(bytes) * perSecond / 1e6)) MB/s"
    }
}
