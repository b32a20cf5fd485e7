import EventLoopConcurrency
import Foundation
import LocalPostgres
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import TimesheetDomain
import TimesheetStore

// Store benchmarks: a 10,000-entry batch insert (target < 1 s) and page queries over 1,000,000 rows.
// Uses DATABASE_URL when set (the database must be empty or migrated), else a private local cluster.
// Build in release for real figures: swift run -c release StoreBench

#if DEBUG
let mode = "DEBUG build (indicative only; run `swift run -c release StoreBench` for real figures)"
#else
let mode = "release build"
#endif

// The server runs Swift concurrency on NIO's event loops (Timesheets.main); so does this benchmark's throughput part.
if ProcessInfo.processInfo.environment["STOREBENCH_NIO_EXECUTOR"] == "1" {
    _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
} else {
    precondition(EventLoopGlobalExecutor.install())
}
let logger = Logger(label: "StoreBench")
print("StoreBench — \(mode)")

func percentile(_ samples: [Duration], _ fraction: Double) -> Duration {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))]
}

func ms(_ duration: Duration) -> String {
    String(
        format: "%.2f ms",
        Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
    )
}

var cluster: LocalPostgresCluster?
var root: String?
let url: String
if let given = ProcessInfo.processInfo.environment["DATABASE_URL"], !given.isEmpty {
    url = given
    print("database: DATABASE_URL")
} else {
    let directory = NSTemporaryDirectory() + "storebench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    chmod(directory, 0o755)
    root = directory
    let local = LocalPostgresCluster(dataDirectory: directory + "/data", durable: false)
    cluster = local
    let started = ContinuousClock.now
    let adminURL = try await local.start()
    try await local.createDatabase("storebench")
    url = adminURL.replacingOccurrences(of: "/postgres?", with: "/storebench?")
    print("database: private cluster (fsync off), started in \(ContinuousClock.now - started)")
}

let migrations = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("migrations").path
var configuration = try DatabaseConfiguration(url: url)
configuration.queryTimeout = .seconds(120)
try await Migrator(configuration: configuration, directory: migrations, output: { print("migrate: \($0)") }).up()

let client = try PostgresTimesheetRepository.makeClient(configuration, backgroundLogger: logger)
try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await client.run() }
    defer { group.cancelAll() }
    let repository = PostgresTimesheetRepository(client: client, queryTimeout: .seconds(120), logger: logger)
    let now = Date()

    // 1. Batch insert: 10,000 entries for 100 users over 100 days (8 h per user-day).
    var batchTimes: [Duration] = []
    for round in 0..<3 {
        let entries = (0..<10_000).map { index in
            NewTimesheet(
                userID: "batch-\(round)-\(index % 100)",
                date: CalendarDay(daysSinceEpoch: 19_000 + index / 100),
                project: "Project \(index % 7)",
                hours: Hours(hundredths: 800),
                notes: index.isMultiple(of: 3) ? "note" : nil
            )
        }
        let started = ContinuousClock.now
        let stored = try await repository.insert(entries, at: now)
        batchTimes.append(ContinuousClock.now - started)
        precondition(stored.count == 10_000)
    }
    print("batch insert of 10,000 entries: \(batchTimes.map(ms).joined(separator: ", ")) (target < 1 s)")

    // 2. Seed to 1,000,000 rows in SQL: 1,000 users, the bench user has 2,000 entries.
    let seedStarted = ContinuousClock.now
    try await client.query(
        """
        INSERT INTO timesheets (user_id, work_date, project, hours, notes, status, created_at, updated_at, \
        reviewed_by, reviewed_at, created_by)
        SELECT 'user-' || (g % 1000), DATE '2015-01-01' + (g / 1000)::int, 'Project ' || (g % 13), \
        1 + (g % 700) / 100.0,
               NULL, CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'approved' END, now(), now(),
               CASE WHEN g % 10 = 0 THEN NULL ELSE 'manager' END, CASE WHEN g % 10 = 0 THEN NULL ELSE now() END,
               'user-' || (g % 1000)
        FROM generate_series(1, 970000) AS g
        """,
        logger: logger
    )
    try await client.query("VACUUM ANALYZE timesheets", logger: logger)
    var count = 0
    for try await value in try await client.query("SELECT count(*) FROM timesheets", logger: logger).decode(Int.self) {
        count = value
    }
    print(
        "seeded to \(count) rows in \(ms(ContinuousClock.now - seedStarted)) "
            + "(INSERT ... SELECT generate_series + VACUUM ANALYZE)"
    )

    // 3. Page queries for one user with ~970 entries: first page and a deep cursor.
    let user = "user-42"
    func timed(_ query: TimesheetQuery, runs: Int = 300) async throws -> [Duration] {
        var samples: [Duration] = []
        for _ in 0..<runs {
            let started = ContinuousClock.now
            let page = try await repository.entries(query)
            samples.append(ContinuousClock.now - started)
            precondition(!page.isEmpty)
        }
        return samples
    }
    let first = try await timed(TimesheetQuery(userID: user, order: .newestDayFirst, limit: 50))
    let all = try await repository.entries(TimesheetQuery(userID: user, order: .newestDayFirst, limit: 10_000))
    let deepCursor = TimesheetCursor(order: .newestDayFirst, after: all[all.count - 60])
    let deep = try await timed(TimesheetQuery(userID: user, order: .newestDayFirst, after: deepCursor, limit: 50))
    let queueCursor = TimesheetCursor(order: .oldestFirst, date: all[0].date, id: TimesheetID(500_000))
    let queue = try await timed(
        TimesheetQuery(userID: nil, status: .pending, order: .oldestFirst, after: queueCursor, limit: 50)
    )
    print("user \(user) has \(all.count) entries")
    print("first page (50):            p50 \(ms(percentile(first, 0.5))), p99 \(ms(percentile(first, 0.99)))")
    print("deep cursor page (50):      p50 \(ms(percentile(deep, 0.5))), p99 \(ms(percentile(deep, 0.99)))")
    print("review queue page (50):     p50 \(ms(percentile(queue, 0.5))), p99 \(ms(percentile(queue, 0.99)))")

    var plan: [String] = []
    let deepDay = Int32(deepCursor.date.daysSinceEpoch)
    for try await line in try await client.query(
        """
        EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM timesheets WHERE user_id = \(user)
          AND (work_date, id) < (DATE '1970-01-01' + \(deepDay), \(deepCursor.id.rawValue))
        ORDER BY work_date DESC, id DESC LIMIT 50
        """,
        logger: logger
    ).decode(String.self) { plan.append(line) }
    print("deep page plan:\n  " + plan.joined(separator: "\n  "))
}

// 4. The list route's store path alone: 64 callers at once, each reading the first page of 20 of one of the 1,000
//    users, through the pools the server uses (one per event loop, NIO's loops running Swift concurrency). The
//    client's CPU per query is the store's share of a list request, without HTTP, tokens or JSON.
try await measureListThroughput(configuration: configuration, callers: 64, seconds: 8)

if let cluster {
    try await cluster.stop()
    if let root { try? FileManager.default.removeItem(atPath: root) }
}
