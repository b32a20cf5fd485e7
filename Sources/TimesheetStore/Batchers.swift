import PostgresNIO
import TimesheetDomain

/// The batchers of the hottest calls (``StatementBatcher``), one of each per pool, found by the pool a call was
/// given: a user's first page and the review queue's pages (`batch_reads`), and single new entries
/// (`batch_creates`). Made once, read without a lock.
struct Batchers: Sendable {
    private var firstPages: [ObjectIdentifier: StatementBatcher<FirstPageKey, [Timesheet]>] = [:]
    private var pendingPages: [ObjectIdentifier: StatementBatcher<PendingPageKey, [Timesheet]>] = [:]
    private var newEntries: [ObjectIdentifier: StatementBatcher<NewEntryCall, Int64>] = [:]

    /// No batching: every call runs its own statement.
    init() {}

    /// - Parameters:
    ///   - clients: The primary's pools.
    ///   - reads: Whether page reads are batched (on these pools, and on a standby's with ``adding(pageReadsOn:)``).
    ///   - creates: Whether single new entries are batched.
    init(clients: [PostgresClient], reads: Bool, creates: Bool) {
        if reads { self = adding(pageReadsOn: clients) }
        if creates {
            for client in clients { newEntries[ObjectIdentifier(client)] = StatementBatcher() }
        }
    }

    /// These batchers and page-read batchers for every pool in `clients` (a standby's, say).
    func adding(pageReadsOn clients: [PostgresClient]) -> Batchers {
        var batchers = self
        for client in clients {
            let id = ObjectIdentifier(client)
            if batchers.firstPages[id] == nil { batchers.firstPages[id] = StatementBatcher() }
            if batchers.pendingPages[id] == nil { batchers.pendingPages[id] = StatementBatcher() }
        }
        return batchers
    }

    var batchesReads: Bool { !firstPages.isEmpty }

    func firstPages(on client: PostgresClient) -> StatementBatcher<FirstPageKey, [Timesheet]>? {
        firstPages[ObjectIdentifier(client)]
    }

    func pendingPages(on client: PostgresClient) -> StatementBatcher<PendingPageKey, [Timesheet]>? {
        pendingPages[ObjectIdentifier(client)]
    }

    func newEntries(on client: PostgresClient) -> StatementBatcher<NewEntryCall, Int64>? {
        newEntries[ObjectIdentifier(client)]
    }
}
