import AuthKit  // Duration.timeInterval

/// Runs an operation over and over for a while and tells how many it managed per second: the clock of the API's
/// microbenchmarks (``JSONBenchmark``, ``LogLineBenchmark``).
struct OperationTimer {
    /// How long one measurement runs, after five unmeasured operations.
    var seconds: Double

    /// Operations per second of `body`.
    func operationsPerSecond(_ body: () throws -> Void) rethrows -> Double {
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
        return Double(count) / elapsed.timeInterval
    }
}
