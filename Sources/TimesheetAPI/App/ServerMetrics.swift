import Metrics
import Prometheus

/// The service's Prometheus metrics, in a registry of its own (no process-global metrics system).
struct ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(5),
    ]

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "http_requests", unitName: "total", helpText: "HTTP requests by method, route and status."),
            labels: labels
        ).increment()
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency."),
            labels: [("method", method), ("route", route)],
            buckets: Self.latencyBuckets
        ).record(duration)
    }

    func recordAuthFailure(reason: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "auth_failures", unitName: "total", helpText: "Rejected credentials by reason."),
            labels: [("reason", reason)]
        ).increment()
    }

    func setGauge(_ name: String, help: String, value: Double, labels: [(String, String)] = []) {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels
        ).set(value)
    }

    /// A swift-metrics factory writing into this registry, for libraries that take one (AuthKit).
    var metricsFactory: any MetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// The Prometheus text exposition.
    func exposition() -> String { registry.emitToString() }
}
