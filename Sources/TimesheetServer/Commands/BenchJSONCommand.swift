import ArgumentParser
import TimesheetAPI

/// `timesheets bench-json` (hidden): times the API's own JSON paths on a page of 500 entries and the access log's line,
/// for `scripts/bench`. Prints figures; asserts only that the JSON writer agrees with `JSONEncoder.api` and that a log
/// line was made. Meaningful only in a release build.
struct BenchJSONCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-json",
        abstract: "Time JSON encoding and decoding of a page of 500 entries, and the access log's line.",
        shouldDisplay: false
    )

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 2

    func run() async throws {
        do {
            try JSONBenchmark(seconds: seconds).run { print($0) }
            try LogLineBenchmark(seconds: seconds).run { print($0) }
        } catch let error as JSONBenchmark.Disagreement {
            throw ValidationError(error.description)
        } catch let error as LogLineBenchmark.NothingWritten {
            throw ValidationError(error.description)
        }
    }
}
