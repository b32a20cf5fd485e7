import Foundation
import Logging
import PostgresNIO

// The `schema_migrations` table: created on first use, read before every decision.
extension Migrator {
    func createHistoryTable(_ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version       bigint PRIMARY KEY,
                name          text NOT NULL,
                checksum      text NOT NULL,
                status        text NOT NULL CHECK (status IN ('applied', 'running', 'failed')),
                transactional boolean NOT NULL,
                applied_at    timestamptz NOT NULL DEFAULT now(),
                execution_ms  bigint NOT NULL DEFAULT 0,
                applied_by    text NOT NULL,
                error         text
            )
            """,
            logger: logger
        ).drain()
    }

    /// The history, or none when the table does not exist yet.
    func readHistory(_ connection: PostgresConnection) async throws -> [MigrationRecord] {
        var exists = false
        for try await value in try await connection.query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL",
            logger: logger
        ).decode(Bool.self) {
            exists = value
        }
        guard exists else { return [] }
        let rows = try await connection.query(
            """
            SELECT version, name, checksum, status, transactional, applied_at, execution_ms, applied_by, error
            FROM schema_migrations ORDER BY version
            """,
            logger: logger
        )
        var records: [MigrationRecord] = []
        for try await (version, name, checksum, status, transactional, appliedAt, milliseconds, appliedBy, error)
            in rows.decode((Int64, String, String, String, Bool, Date, Int64, String, String?).self)
        {
            records.append(
                MigrationRecord(
                    version: version,
                    name: name,
                    checksum: checksum,
                    status: status,
                    transactional: transactional,
                    appliedAt: appliedAt,
                    executionMilliseconds: milliseconds,
                    appliedBy: appliedBy,
                    error: error
                )
            )
        }
        return records
    }
}

/// One row of `schema_migrations`.
public struct MigrationRecord: Hashable, Sendable, Codable {
    public var version: Int64
    public var name: String
    public var checksum: String
    /// `applied`, `running` (a no-transaction file in progress or interrupted) or `failed`.
    public var status: String
    public var transactional: Bool
    public var appliedAt: Date
    public var executionMilliseconds: Int64
    public var appliedBy: String
    public var error: String?
}
