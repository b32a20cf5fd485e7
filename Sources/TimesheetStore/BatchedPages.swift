import Logging
import PostgresNIO
import TimesheetDomain

extension PostgresTimesheetRepository {
    typealias Pages<Key: Hashable & Sendable> = StatementBatcher<Key, [Timesheet]>.Answers

    /// The first pages of `keys`, read on `connection`: one alone by ``FirstPageStatement``, several together by
    /// ``FirstPagesStatement``.
    static func firstPages(
        _ keys: [FirstPageKey],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Pages<FirstPageKey> {
        try await pages(
            keys,
            limit: \.limit,
            inOrder: { ($0.date, $0.id.rawValue) > ($1.date, $1.id.rawValue) },
            one: { key in
                try await connection.execute(FirstPageStatement(userID: key.userID, limit: key.limit), logger: logger)
                    .reduce(into: emptyPage(of: key.limit)) { $0.append($1) }
            },
            all: { try await connection.execute(FirstPagesStatement(pages: keys), logger: logger) }
        )
    }

    /// The review queue's pages of `keys`, read on `connection`: one alone by ``PendingPageStatement``, several
    /// together by ``PendingPagesStatement``.
    static func pendingPages(
        _ keys: [PendingPageKey],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Pages<PendingPageKey> {
        try await pages(
            keys,
            limit: \.limit,
            inOrder: { $0.id.rawValue < $1.id.rawValue },
            one: { key in
                try await connection.execute(
                    PendingPageStatement(afterID: key.afterID, limit: key.limit),
                    logger: logger
                ).reduce(into: emptyPage(of: key.limit)) { $0.append($1) }
            },
            all: { try await connection.execute(PendingPagesStatement(pages: keys), logger: logger) }
        )
    }

    /// Reads the pages of `keys` with `all`, or with `one` when there is one key, or when the server refused a
    /// value of the batch (SQLSTATE class 22, data exception: text it cannot store, say): then each key runs alone,
    /// so a read fails only for its own parameters.
    static func pages<Key: Hashable & Sendable, Rows: AsyncSequence>(
        _ keys: [Key],
        limit: (Key) -> Int,
        inOrder: (Timesheet, Timesheet) -> Bool,
        one: (Key) async throws -> [Timesheet],
        all: () async throws -> Rows
    ) async throws -> Pages<Key> where Rows.Element == BatchedPage {
        if keys.count == 1 { return [keys[0]: .success(try await one(keys[0]))] }
        var received: [[Timesheet]?] = Array(repeating: nil, count: keys.count)
        do {
            for try await page in try await all() {
                let index = page.position - 1
                guard received.indices.contains(index), received[index] == nil else {
                    throw TimesheetRecordDecoder.UnexpectedRecord(
                        description: "page \(page.position) of a batch of \(keys.count), again or out of range"
                    )
                }
                guard page.entries.count <= limit(keys[index]) else {
                    throw TimesheetRecordDecoder.UnexpectedRecord(
                        description: "\(page.entries.count) entries in page \(page.position), over its limit "
                            + "\(limit(keys[index]))"
                    )
                }
                received[index] = page.entries
            }
        } catch let error as PSQLError
            where error.code == .server && error.serverInfo?[.sqlState]?.hasPrefix("22") == true
        {
            return await StatementBatcher<Key, [Timesheet]>.answeringEachAlone(keys, one)
        }
        // The statement returns one row per page, an empty page included (as NULL): a page missing is a reply this
        // code does not understand, never an empty page.
        if let missing = received.firstIndex(where: { $0 == nil }) {
            throw TimesheetRecordDecoder.UnexpectedRecord(
                description: "no row for page \(missing + 1) of a batch of \(keys.count)"
            )
        }
        var pages = received.map { $0 ?? [] }
        var answers = Pages<Key>(minimumCapacity: keys.count)
        for (index, key) in keys.enumerated() {
            // PostgreSQL returns each page in its order (see PagesStatementSQL); a page out of order would be a
            // plan this code does not expect, and is put in order rather than answered wrong.
            if zip(pages[index], pages[index].dropFirst()).contains(where: { !inOrder($0, $1) }) {
                pages[index].sort(by: inOrder)
            }
            answers[key] = .success(pages[index])
        }
        return answers
    }

    /// An empty page with room for `limit` entries: reading the rows then allocates it once, where appending to an
    /// empty array allocated and copied it five or six times for a page of 20.
    static func emptyPage(of limit: Int) -> [Timesheet] {
        var entries: [Timesheet] = []
        entries.reserveCapacity(limit)
        return entries
    }
}
