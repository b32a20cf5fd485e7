import Testing

@testable import TimesheetAPI

@Suite struct RequestLogTests {
    @Test func durationsAreWrittenAsMillisecondsWithTwoDecimals() {
        #expect(RequestLogMiddleware.milliseconds(.microseconds(12_345)) == "12.34")
        #expect(RequestLogMiddleware.milliseconds(.microseconds(50)) == "0.05")
        #expect(RequestLogMiddleware.milliseconds(.seconds(3) + .microseconds(1_000)) == "3001.00")
        #expect(RequestLogMiddleware.milliseconds(.zero) == "0.00")
    }

    @Test func requestIDsAreUniqueOrderedAndDifferAcrossProcesses() {
        let ids = RequestIDs(prefix: 0xABC)
        let first = ids.next()
        let second = ids.next()
        #expect(first == "0000000000000abc-0000000000000001")
        #expect(second == "0000000000000abc-0000000000000002")
        #expect(first < second)
        #expect(RequestIDs().next() != RequestIDs().next(), "random prefixes")
        // The ids a caller may send back are accepted as they are.
        #expect(RequestLogMiddleware.acceptedRequestID(first) == first)
    }

    @Test func metricHandlesAreMadeOncePerMethodRouteAndStatus() {
        let metrics = ServerMetrics()
        for _ in 0..<3 {
            metrics.recordRequest(method: "GET", route: "/timesheets", status: 200, duration: .milliseconds(2))
        }
        metrics.recordRequest(method: "GET", route: "/timesheets", status: 404, duration: .milliseconds(1))
        let text = metrics.exposition()
        #expect(text.contains(#"http_requests_total{method="GET",route="/timesheets",status="200"} 3"#), "\(text)")
        #expect(text.contains(#"http_requests_total{method="GET",route="/timesheets",status="404"} 1"#))
        #expect(text.contains(#"http_request_duration_seconds_count{method="GET",route="/timesheets"} 4"#))
    }
}
