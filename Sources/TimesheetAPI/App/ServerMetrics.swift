import AuthKit  // Duration.timeInterval
import Metrics
import Prometheus
import Synchronization
import TimesheetStore

/// The service's Prometheus metrics, in a registry of its own (no process-global metrics system).
struct ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let requestHandles = RequestMetricHandles()
    private let expositionHooks = ExpositionHooks()

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(5),
    ]

    /// Counts a request and records its latency. The counter and histogram of each method, route and status are
    /// made once and then looked up: making them asks the registry, which builds label arrays and takes its lock.
    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let handles = requestHandles.handles(for: .init(method: method, route: route, status: status)) { key in
            let counter = registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    metricName: "http_requests",
                    unitName: "total",
                    helpText: "HTTP requests by method, route and status."
                ),
                labels: [("method", key.method), ("route", key.route), ("status", String(key.status))]
            )
            let histogram = registry.makeDurationHistogram(
                descriptor: MetricNameDescriptor(
                    metricName: "http_request_duration",
                    unitName: "seconds",
                    helpText: "HTTP request latency."
                ),
                labels: [("method", key.method), ("route", key.route)],
                buckets: Self.latencyBuckets
            )
            return (counter, histogram)
        }
        handles.counter.increment()
        handles.histogram.record(duration)
    }

    func recordAuthFailure(reason: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "auth_failures",
                unitName: "total",
                helpText: "Rejected credentials by reason."
            ),
            labels: [("reason", reason)]
        ).increment()
    }

    func setGauge(_ name: String, help: String, value: Double, labels: [(String, String)] = []) {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help),
            labels: labels
        ).set(value)
    }

    /// A swift-metrics factory writing into this registry, for libraries that take one (AuthKit).
    var metricsFactory: any MetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// Reports where reads go at each scrape: `database_standby_usable` (1 or 0), `database_standby_lag_seconds`
    /// (how old the standby's safe time is) and `database_reads_total{target="standby|primary"}`.
    func observe(_ standby: StandbyReads) {
        let usable = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "database_standby_usable",
                unitName: "",
                helpText: "1 while reads go to the standby (DATABASE_READ_URL), 0 while it is skipped."
            )
        )
        let lag = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "database_standby_lag",
                unitName: "seconds",
                helpText: "How far the standby is known to be behind the primary."
            )
        )
        let readsDescriptor = MetricNameDescriptor(
            metricName: "database_reads",
            unitName: "total",
            helpText: "Reads by the server they went to."
        )
        let standbyReads = registry.makeCounter(descriptor: readsDescriptor, labels: [("target", "standby")])
        let primaryReads = registry.makeCounter(descriptor: readsDescriptor, labels: [("target", "primary")])
        let counted = Mutex((standby: 0, primary: 0))
        expositionHooks.add {
            let status = standby.status
            usable.set(Double(status.isUsable ? 1 : 0))
            lag.set(status.lag.map(\.timeInterval) ?? -1)
            counted.withLock { counted in
                standbyReads.increment(by: Int64(status.standbyReads - counted.standby))
                primaryReads.increment(by: Int64(status.primaryReads - counted.primary))
                counted = (status.standbyReads, status.primaryReads)
            }
        }
    }

    /// The Prometheus text exposition.
    func exposition() -> String {
        expositionHooks.run()
        return registry.emitToString()
    }
}

/// Work done just before each scrape: metrics read off a component's state rather than counted as they happen.
private final class ExpositionHooks: Sendable {
    private let hooks = Mutex<[@Sendable () -> Void]>([])

    func add(_ hook: @escaping @Sendable () -> Void) { hooks.withLock { $0.append(hook) } }

    func run() {
        for hook in hooks.withLock({ $0 }) { hook() }
    }
}

/// The request metrics already made, by method, route and status. Routes are the router's templates and methods a
/// closed set (see `RequestLogMiddleware.methodLabel`), so the table stays small.
private final class RequestMetricHandles: Sendable {
    struct Key: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    private let made = Mutex<[Key: (counter: Prometheus.Counter, histogram: DurationHistogram)]>([:])

    func handles(
        for key: Key,
        make: (Key) -> (Prometheus.Counter, DurationHistogram)
    ) -> (counter: Prometheus.Counter, histogram: DurationHistogram) {
        if let found = made.withLock({ $0[key] }) { return found }
        let fresh = make(key)
        return made.withLock { table in
            if let found = table[key] { return found }
            table[key] = fresh
            return fresh
        }
    }
}
