import Foundation
import Prometheus
import Synchronization
import TimesheetDomain

/// Wraps a repository to export pool usage: PostgresNIO keeps its pool's counters private, so this counts the
/// database operations in flight (each holds one pooled connection) next to the pool's size, and their latency.
final class MeasuredRepository<Base: TimesheetRepository>: TimesheetRepository {
    let base: Base
    private let inFlight = Atomic<Int>(0)
    private let gauge: Gauge
    private let durations: DurationHistogram

    init(_ base: Base, metrics: ServerMetrics, poolSize: Int) {
        self.base = base
        metrics.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "db_pool",
                unitName: "size",
                helpText: "Connections the pool may open."
            )
        ).set(Double(poolSize))
        self.gauge = metrics.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "db_operations_in_flight",
                unitName: "",
                helpText: "Database operations holding a pooled connection."
            )
        )
        self.durations = metrics.registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "db_operation_duration",
                unitName: "seconds",
                helpText: "Database operation latency."
            ),
            buckets: ServerMetrics.latencyBuckets
        )
    }

    private func measure<Result>(_ operation: () async throws -> Result) async throws -> Result {
        gauge.set(Double(inFlight.add(1, ordering: .relaxed).newValue))
        let start = ContinuousClock.now
        defer {
            gauge.set(Double(inFlight.subtract(1, ordering: .relaxed).newValue))
            durations.record(ContinuousClock.now - start)
        }
        return try await operation()
    }

    func insert(_ entries: [NewTimesheet], at now: Date) async throws -> [Timesheet] {
        try await measure { try await base.insert(entries, at: now) }
    }

    func entry(_ id: TimesheetID) async throws -> Timesheet? {
        try await measure { try await base.entry(id) }
    }

    func entries(_ query: TimesheetQuery) async throws -> [Timesheet] {
        try await measure { try await base.entries(query) }
    }

    func insert(
        _ entries: [NewTimesheet],
        at now: Date,
        idempotent request: IdempotentRequest
    ) async throws -> IdempotentOutcome {
        try await measure { try await base.insert(entries, at: now, idempotent: request) }
    }

    func update(
        _ id: TimesheetID,
        by actor: String,
        _ change: @escaping @Sendable (Timesheet) throws -> Timesheet
    ) async throws -> Timesheet? {
        try await measure { try await base.update(id, by: actor, change) }
    }

    func delete(
        _ id: TimesheetID,
        by actor: String,
        at now: Date,
        _ check: @escaping @Sendable (Timesheet) throws -> Void
    ) async throws -> Bool {
        try await measure { try await base.delete(id, by: actor, at: now, check) }
    }

    func history(of id: TimesheetID) async throws -> [TimesheetEvent] {
        try await measure { try await base.history(of: id) }
    }

    func dailyTotals(userID: String, from: CalendarDay, to: CalendarDay) async throws -> [DailyProjectHours] {
        try await measure { try await base.dailyTotals(userID: userID, from: from, to: to) }
    }

    /// Measures a report until its rows can be read; they are read later, while the response streams, and the pooled
    /// connection stays held until then without being counted here.
    func hoursReport(_ request: HoursReportRequest) async throws -> HoursReportRows {
        try await measure { try await base.hoursReport(request) }
    }
}
