import Foundation
import NIOCore
import TimesheetDomain

/// Times the API's own JSON paths on a page of 500 entries: `JSONEncoder.api`, the hand-written ``JSONWriter``
/// that `GET /timesheets` uses, and the decoder behind `POST /timesheets/upload`. It lives beside the code it
/// times so that `timesheets bench-json` needs none of the HTTP layer's internals. Prints figures; asserts only
/// that the two encoders agree.
package struct JSONBenchmark {
    /// How long each measurement runs.
    package var seconds: Double

    package init(seconds: Double) {
        self.seconds = seconds
    }

    /// The writer and the encoder produced different bytes for the same page.
    package struct Disagreement: Error, CustomStringConvertible {
        package var description: String { "JSONWriter and JSONEncoder.api disagree on the page" }
    }

    /// Runs each measurement and hands one line of figures to `report` as soon as it is known.
    package func run(report: (String) -> Void) throws {
        let timer = OperationTimer(seconds: seconds)
        let now = Date()
        let entries = (0..<500).map { index in
            let approved = index % 10 != 0
            return Timesheet(
                id: TimesheetID(Int64(1_000_000 + index)),
                userID: "auth0|bench-user-\(index % 50)",
                date: CalendarDay(daysSinceEpoch: 19_000 + index),
                project: "Project \(index % 13)",
                hours: Hours(hundredths: 100 + index % 700),
                notes: index % 5 == 0 ? "sprint work, \"ticket\" \(index)\t/ C:\\x\n café ✓\u{1}" : nil,
                status: approved ? .approved : .pending,
                createdAt: now,
                updatedAt: now,
                reviewedBy: approved ? "auth0|bench-manager" : nil,
                reviewedAt: approved ? now : nil
            )
        }
        let page = TimesheetPage(
            items: entries,
            nextCursor: TimesheetCursor(order: .newestDayFirst, after: entries[499])
        )
        let encoded = try JSONEncoder.api.encode(PageResponse(page))
        let response = PageResponse(page)
        var writer = JSONWriter(capacity: response.expectedJSONSize)
        response.writeJSON(to: &writer)
        guard Data(writer.buffer.readableBytesView) == encoded else {
            throw Disagreement()
        }
        let encode = try timer.operationsPerSecond { _ = try JSONEncoder.api.encode(PageResponse(page)) }
        report(Self.line("encode page of 500 entries with JSONEncoder.api", encode, bytes: encoded.count))
        let write = timer.operationsPerSecond {
            let response = PageResponse(page)
            var writer = JSONWriter(capacity: response.expectedJSONSize)
            response.writeJSON(to: &writer)
        }
        report(Self.line("encode page of 500 entries (GET /timesheets?limit=500)", write, bytes: encoded.count))

        // The batch upload's body: 500 entry objects, decoded by the same reader the route uses.
        let inputs: [[String: Any]] = entries.map { entry in
            var object: [String: Any] = [
                "date": entry.date.description, "project": entry.project, "hours": entry.hours.value,
            ]
            if let notes = entry.notes { object["notes"] = notes }
            return object
        }
        let json = try JSONSerialization.data(withJSONObject: inputs)
        let body = ByteBuffer(bytes: json)
        let decode = try timer.operationsPerSecond {
            let decoded = try RequestBodyReader.decodeJSON([EntryBody].self, from: body, expecting: "an array").map(
                \.input
            )
            precondition(decoded.count == 500)
        }
        report(Self.line("decode 500 entry inputs (POST /timesheets/upload)", decode, bytes: body.readableBytes))
    }

    static func line(_ what: String, _ perSecond: Double, bytes: Int) -> String {
        let microseconds = 1e6 / perSecond
        return "\(what): \(Int(microseconds)) µs each, \(Int(perSecond)) per second, \(bytes) bytes, "
            + "\(Int(Double(bytes) * perSecond / 1e6)) MB/s"
    }
}
