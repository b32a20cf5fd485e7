import Hummingbird
import TimesheetStore

/// Keeps a caller's reads consistent with the caller's own writes when reads may go to a standby: wraps each
/// authenticated request (``RequireAccess`` calls it once it knows who is calling).
protocol ReadConsistency: Sendable {
    /// Runs `handle` for `callerID`; `isWrite` for a method that may change data.
    func serving(
        _ callerID: String,
        isWrite: Bool,
        _ handle: () async throws -> Response
    ) async throws -> Response
}

/// Binds the caller for the store's reads (``ReadSession``), and after a write notes it with the standby's router,
/// so that the caller's reads go to the primary until the standby holds that write.
struct StandbyReadConsistency: ReadConsistency {
    let standby: StandbyReads

    func serving(
        _ callerID: String,
        isWrite: Bool,
        _ handle: () async throws -> Response
    ) async throws -> Response {
        // Noted after the handler, whether it succeeded or not: a failed request may still have written (a timeout
        // after the commit), and noting a write that did not happen only sends a few reads to the primary.
        defer { if isWrite { standby.recordWrite(by: callerID) } }
        return try await ReadSession.$callerID.withValue(callerID) { try await handle() }
    }
}

/// Reports where reads go. Never makes the service unready: the primary serves every read on its own.
struct StandbyCheck: ReadinessCheck {
    let standby: StandbyReads
    var name: String { "database_standby" }
    var isRequired: Bool { false }

    func problem() async -> String? {
        let status = standby.status
        guard status.isUsable else { return "skipped, reads go to the primary: \(status.problem ?? "no answer yet")" }
        return nil
    }
}
