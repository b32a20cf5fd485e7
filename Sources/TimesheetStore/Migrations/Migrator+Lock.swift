import Logging
import PostgresNIO

// The advisory lock that serialises migrators, polled until `Options.lockTimeout`, naming its holder while it waits.
extension Migrator {
    /// The advisory lock key (two-int form, which never collides with the store's one-bigint locks).
    static let lockKey = "1953066341, 1"

    func acquireLock(_ connection: PostgresConnection) async throws {
        let started = ContinuousClock.now
        var lastReport: ContinuousClock.Instant?
        while true {
            var acquired = false
            for try await value in try await connection.query(
                "SELECT pg_try_advisory_lock(\(unescaped: Self.lockKey))",
                logger: logger
            ).decode(Bool.self) {
                acquired = value
            }
            if acquired { return }
            let holder = try await lockHolder(connection)
            let waited = ContinuousClock.now - started
            if waited >= options.lockTimeout {
                throw MigrationError.lockTimeout(waited: options.lockTimeout, holder: holder)
            }
            if lastReport.map({ ContinuousClock.now - $0 >= .seconds(10) }) ?? true {
                output("waiting for the migration lock, held by \(holder ?? "another session") …")
                lastReport = ContinuousClock.now
            }
            try await Task.sleep(for: min(.milliseconds(250), options.lockTimeout - waited))
        }
    }

    func releaseLock(_ connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_advisory_unlock(\(unescaped: Self.lockKey))", logger: logger).drain()
    }

    /// Who holds the lock: application name, user, client address, pid and since when.
    func lockHolder(_ connection: PostgresConnection) async throws -> String? {
        let rows = try await connection.query(
            """
            SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
                   coalesce(host(a.client_addr), 'local socket'),
                   coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '?')
            FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = 1953066341::bigint::oid AND l.objid = 1::bigint::oid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """,
            logger: logger
        )
        var holder: String?
        for try await (pid, application, user, client, since) in rows.decode((Int, String, String, String, String).self)
        {
            holder =
                "\(application.isEmpty ? "a session" : "'\(application)'") (user \(user), \(client), pid \(pid), "
                + "connected since \(since) UTC)"
        }
        return holder
    }
}
