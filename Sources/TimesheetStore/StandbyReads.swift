import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The caller a store read is made for, so that ``StandbyReads`` can send a caller who has just written to the
/// primary. The HTTP layer binds it for each authenticated request; a read with none bound may go to the standby.
public enum ReadSession {
    @TaskLocal public static var callerID: String?
}

/// Reads sent to a PostgreSQL standby (streaming replication) while it is close enough behind the primary, and to
/// the primary otherwise, with read-your-writes for each caller.
///
/// **What "close enough" means.** Every `interval` a monitor notes the primary's WAL insert position together with
/// the moment it asked, then asks the standby how far it has replayed. The standby holds every transaction that
/// committed before the latest noted moment whose position it has replayed: its *safe time*. The standby is used
/// while the safe time is at most `maxLag` old and the standby answers; otherwise every read goes to the primary
/// (and ``status`` says why), until it catches up.
///
/// **Read-your-writes.** ``recordWrite(by:)`` notes when a caller's write finished. That caller's reads go to the
/// primary until the safe time passes that moment, that is until the standby is known to hold the write. Callers are
/// remembered per process: behind a load balancer, a caller's requests must reach the same replica (HAProxy's
/// `balance hdr(Authorization)`, as the compose file does) for this to hold across requests.
///
/// Run it (``run()``) in the service group; until its first round, reads go to the primary.
public final class StandbyReads: Sendable {
    /// What the monitor last saw, for readiness and metrics.
    public struct Status: Sendable, Equatable {
        /// Reads may go to the standby now.
        public var isUsable: Bool
        /// How old the standby's safe time is; `nil` before the first answer.
        public var lag: Duration?
        /// Why the standby is skipped; `nil` while it is used.
        public var problem: String?
        /// Reads sent to each side since start.
        public var standbyReads: Int
        public var primaryReads: Int
    }

    private struct Sample {
        var at: ContinuousClock.Instant
        var position: UInt64
    }

    private struct State {
        /// The primary's positions, oldest first, none older than the safe time's own sample.
        var samples: [Sample] = []
        var safeTime: ContinuousClock.Instant?
        var problem: String? = "no answer from the standby yet"
        /// When each caller's latest write finished; pruned once the safe time passes it.
        var writes: [String: ContinuousClock.Instant] = [:]
    }

    let standby: PostgresPools
    private let primary: PostgresPools
    let maxLag: Duration
    private let interval: Duration
    private let queryTimeout: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let standbyReadCount = Atomic<Int>(0)
    private let primaryReadCount = Atomic<Int>(0)

    /// - Parameters:
    ///   - standby: Pools on the standby (`DATABASE_READ_URL`); run them next to this (``run()`` does).
    ///   - primary: The primary's pools, asked for its WAL position.
    ///   - maxLag: The oldest safe time at which the standby is still used (`DATABASE_READ_MAX_LAG`).
    ///   - interval: How often the monitor asks both servers.
    public init(
        standby: PostgresPools,
        primary: PostgresPools,
        maxLag: Duration = .seconds(5),
        interval: Duration = .milliseconds(250),
        queryTimeout: Duration = .seconds(2),
        logger: Logger
    ) {
        self.standby = standby
        self.primary = primary
        self.maxLag = maxLag
        self.interval = interval
        self.queryTimeout = queryTimeout
        self.logger = logger
    }

    /// The standby's pool for a read made for `callerID`, or `nil` when the read must go to the primary.
    public func client(forReadBy callerID: String?) -> PostgresClient? {
        let now = ContinuousClock.now
        let usable = state.withLock { state -> Bool in
            guard state.problem == nil, let safe = state.safeTime, now - safe <= maxLag else { return false }
            if let callerID, let wrote = state.writes[callerID], wrote >= safe { return false }
            return true
        }
        if usable {
            standbyReadCount.add(1, ordering: .relaxed)
            return standby.current
        }
        primaryReadCount.add(1, ordering: .relaxed)
        return nil
    }

    /// Notes that `callerID`'s write has finished: its reads go to the primary until the standby holds it.
    public func recordWrite(by callerID: String) {
        let now = ContinuousClock.now
        state.withLock { $0.writes[callerID] = now }
    }

    /// Whether a failed read is the standby's fault, so that the primary should run it: a standby that cannot be
    /// reached or is not ready, or a query it cancelled because replay needed what the query held (SQLSTATE 40001,
    /// "conflict with recovery").
    static func isStandbysFault(_ error: StoreError) -> Bool {
        switch error {
        case .unavailable(.unreachable, _), .unavailable(.notReady, _): true
        case .unexpected(let underlying as PSQLError): underlying.serverInfo?[.sqlState] == "40001"
        default: false
        }
    }

    /// A read on the standby failed for a reason of the standby's own: skip it until the monitor sees it answer.
    func standbyFailed(_ error: any Error) {
        let storeError = error as? StoreError ?? StoreError(classifying: error)
        let problem = "the standby failed a read: \(storeError.description)"
        state.withLock { $0.problem = problem }
        logger.warning("standby read failed; reading from the primary", metadata: ["error": "\(error)"])
    }

    public var status: Status {
        let now = ContinuousClock.now
        let (problem, safeTime) = state.withLock { ($0.problem, $0.safeTime) }
        let lag = safeTime.map { now - $0 }
        var reason = problem
        if reason == nil, let lag, lag > maxLag {
            reason =
                "the standby is \(Self.seconds(lag)) behind, "
                + "more than DATABASE_READ_MAX_LAG (\(Self.seconds(maxLag)))"
        }
        return Status(
            isUsable: reason == nil && lag != nil,
            lag: lag,
            problem: reason,
            standbyReads: standbyReadCount.load(ordering: .relaxed),
            primaryReads: primaryReadCount.load(ordering: .relaxed)
        )
    }

    /// Runs the standby's pools and the monitor until the service group shuts down (or the task is cancelled).
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.standby.run() }
            group.addTask {
                while !Task.isCancelled, !Task.isShuttingDownGracefully {
                    await self.observe()
                    try? await Task.sleep(for: self.interval)
                }
            }
        }
    }

    /// One round of the monitor: the primary's position now, then how far the standby has replayed.
    func observe() async {
        let asked = ContinuousClock.now
        do {
            let position = try await withDeadline(queryTimeout) { [primary, logger] in
                try await Self.position(
                    "SELECT pg_current_wal_insert_lsn()::text",
                    on: primary.current,
                    logger: logger
                )
            }
            if let position { notePrimary(position: position, at: asked) }
        } catch {
            // The primary is not answering: no new sample, so the safe time stops and the standby ages out.
            logger.debug("standby monitor: the primary did not answer", metadata: ["error": "\(error)"])
        }
        do {
            let replayed = try await withDeadline(queryTimeout) { [standby, logger] in
                try await Self.position(
                    "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text END",
                    on: standby.current,
                    logger: logger
                )
            }
            guard let replayed else {
                note(problem: "DATABASE_READ_URL is not a standby (pg_is_in_recovery() is false)")
                return
            }
            advance(replayedTo: replayed)
        } catch {
            note(problem: "the standby is not answering")
        }
    }

    /// Notes the primary's WAL position as it was at `instant` (or later: the moment is taken before asking).
    func notePrimary(position: UInt64, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            state.samples.append(Sample(at: instant, position: position))
            // A standby stuck far behind is skipped anyway; its samples need not pile up meanwhile.
            if state.samples.count > Self.sampleLimit { state.samples.removeFirst(state.samples.count / 2) }
        }
    }

    /// Moves the safe time to the newest sample the standby has replayed, and forgets what it makes moot.
    func advance(replayedTo replayed: UInt64) {
        let wasSkipped = state.withLock { state -> Bool in
            let wasSkipped = state.problem != nil
            state.problem = nil
            if let index = state.samples.lastIndex(where: { Self.isReplayed($0.position, upTo: replayed) }) {
                state.safeTime = state.samples[index].at
                state.samples.removeFirst(index)
            }
            if let safe = state.safeTime {
                state.writes = state.writes.filter { $0.value >= safe }
            }
            return wasSkipped
        }
        if wasSkipped { logger.info("the standby answers; reads go to it while it keeps up") }
    }

    private func note(problem: String) {
        let changed = state.withLock { state -> Bool in
            defer { state.problem = problem }
            // While skipped the safe time stands still; writes older than the lag limit no longer matter (a standby
            // that far behind is skipped anyway), so the table does not grow with every caller meanwhile.
            let horizon = ContinuousClock.now - maxLag
            state.writes = state.writes.filter { $0.value >= horizon }
            return state.problem != problem
        }
        if changed { logger.warning("reads go to the primary", metadata: ["reason": .string(problem)]) }
    }

    private static func position(
        _ sql: PostgresQuery,
        on client: PostgresClient,
        logger: Logger
    ) async throws -> UInt64? {
        let rows = try await client.query(sql, logger: logger)
        var text: String?
        for try await value in rows.decode(String?.self) { text = value }
        return text.flatMap(Self.parseLSN)
    }

    /// `16/B374D848` → 0x16_B374D848.
    static func parseLSN(_ text: String) -> UInt64? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16),
            high <= UInt32.max, low <= UInt32.max
        else { return nil }
        return high << 32 | low
    }

    static let sampleLimit = 4_096

    /// Whether the primary's insert position `position` is covered by a standby that replayed up to `replayed`. The
    /// insert position of an idle primary whose last record ended on a WAL page boundary points past the next page's
    /// header (24 bytes, 40 at a segment start), while the replay position is the boundary itself.
    static func isReplayed(_ position: UInt64, upTo replayed: UInt64) -> Bool {
        position <= replayed || (replayed % 8_192 == 0 && position - replayed <= 40)
    }

    /// `1.2 s`.
    static func seconds(_ duration: Duration) -> String {
        let tenths = duration.components.seconds * 10 + duration.components.attoseconds / 100_000_000_000_000_000
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
