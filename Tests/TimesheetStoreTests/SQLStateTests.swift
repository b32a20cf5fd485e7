import Testing

@testable import TimesheetStore

/// The one SQLSTATE list that the repository (503 or 500) and the migrator (wait or fail fast) both read.
@Suite struct SQLStateTests {
    @Test(arguments: [
        ("57P01", SQLState.Condition.notReady, true), ("57P02", .notReady, true), ("57P03", .notReady, true),
        ("53300", .notReady, true), ("53400", .notReady, true),
        ("08006", .connectionFailed, true), ("08001", .connectionFailed, true),
        ("28P01", .refused, false), ("28000", .refused, false), ("3D000", .refused, false),
        ("57014", .statementTimeout, false),
        ("23505", .other, false), ("42P01", .other, false), ("", .other, false),
    ])
    func conditions(_ code: String, _ condition: SQLState.Condition, _ worthWaiting: Bool) {
        #expect(SQLState(code).condition == condition)
        #expect(SQLState(code).isWorthWaitingFor == worthWaiting)
    }

    @Test func deadlinesAndCancellationAreTimeouts() {
        guard case .unavailable(.timedOut, _) = StoreError(classifying: CancellationError()) else {
            Issue.record("not a timeout")
            return
        }
    }
}
