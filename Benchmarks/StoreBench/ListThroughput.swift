import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization
import TimesheetDomain
import TimesheetStore

/// Runs `callers` concurrent loops of first-page reads (20 entries of one of the seeded `user-N`) for `seconds`, on
/// the server's pools, and prints queries per second and this process's CPU per query (user and system time).
func measureListThroughput(configuration: DatabaseConfiguration, callers: Int, seconds: Int) async throws {
    let pools = try PostgresPools(configuration: configuration, logger: logger)
    let repository = PostgresTimesheetRepository(pools: pools, queryTimeout: .seconds(5), logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await pools.run() }
        defer { group.cancelAll() }
        let warmUp = ContinuousClock.now + .seconds(2)
        _ = try await readPages(repository, callers: callers, until: warmUp)
        let cpuBefore = processCPUTime()
        let started = ContinuousClock.now
        let queries = try await readPages(repository, callers: callers, until: started + .seconds(seconds))
        let elapsed = ContinuousClock.now - started
        let cpu = processCPUTime() - cpuBefore
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "list store path, \(callers) callers, \(pools.clients.count) pools: "
                + "\(Int(Double(queries) / wall)) queries/s, "
                + "\(Int(cpu / Double(queries) * 1e6)) µs of client CPU per query"
        )
    }
}

private func readPages(
    _ repository: PostgresTimesheetRepository,
    callers: Int,
    until deadline: ContinuousClock.Instant
) async throws -> Int {
    let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
    return try await withThrowingTaskGroup(of: Int.self) { group in
        for caller in 0..<callers {
            group.addTask {
                // Children start on the loop of the task that adds them; as the server's connections do, spread the
                // callers over the loops: a task resumes on the loop that completes what it awaits, and stays there.
                try await loops[caller % loops.count].submit {}.get()
                var count = 0
                var user = caller
                while ContinuousClock.now < deadline {
                    user = (user + callers) % 1_000
                    let page = try await repository.entries(
                        TimesheetQuery(userID: "user-\(user)", order: .newestDayFirst, limit: 20)
                    )
                    precondition(page.count == 20)
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
}

/// User plus system CPU seconds of this process so far.
private func processCPUTime() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
