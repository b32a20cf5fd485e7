import Foundation
import Logging
import PostgresNIO

// Applying one file: in a transaction with its history row, or statement by statement with a `running` row.
extension Migrator {
    /// Runs one file; returns its execution time in milliseconds.
    func apply(_ file: MigrationFile, on connection: PostgresConnection) async throws -> Int64 {
        let statements = SQLScript.statements(in: file.sql)
        let started = ContinuousClock.now
        func elapsed() -> Int64 { DatabaseConfiguration.milliseconds(ContinuousClock.now - started) }
        let appliedBy = Self.hostName

        if file.isTransactional {
            try await connection.query("BEGIN", logger: logger).drain()
            do {
                for (index, statement) in statements.enumerated() {
                    try await execute(statement, number: index + 1, of: file, on: connection)
                }
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum, status, transactional, execution_ms, \
                    applied_by)
                    VALUES (\(file.version), \(file.name), \(file.checksum), 'applied', true, \(elapsed()),
                            current_user || '@' || \(appliedBy))
                    """,
                    logger: logger
                ).drain()
                do {
                    try await connection.query("COMMIT", logger: logger).drain()
                } catch {
                    throw failure(error, statement: statements.last, number: statements.count, of: file)
                }
                return elapsed()
            } catch {
                try? await connection.query("ROLLBACK", logger: logger).drain()
                throw error
            }
        }

        try await connection.query(
            """
            INSERT INTO schema_migrations (version, name, checksum, status, transactional, applied_by)
            VALUES (\(file.version), \(file.name), \(file.checksum), 'running', false, \
            current_user || '@' || \(appliedBy))
            """,
            logger: logger
        ).drain()
        do {
            for (index, statement) in statements.enumerated() {
                try await execute(statement, number: index + 1, of: file, on: connection)
            }
        } catch let error as MigrationError {
            if case .migrationFailed(let failure) = error {
                let summary =
                    "statement \(failure.statement) at line \(failure.line) failed"
                    + (failure.sqlState.map { " [SQLSTATE \($0)]" } ?? "") + ": \(failure.message)"
                try? await connection.query(
                    """
                    UPDATE schema_migrations SET status = 'failed', error = \(summary), execution_ms = \(elapsed())
                    WHERE version = \(file.version)
                    """,
                    logger: logger
                ).drain()
            }
            throw error
        }
        try await connection.query(
            """
            UPDATE schema_migrations SET status = 'applied', applied_at = now(), execution_ms = \(elapsed())
            WHERE version = \(file.version)
            """,
            logger: logger
        ).drain()
        return elapsed()
    }

    func execute(
        _ statement: SQLScript.Statement,
        number: Int,
        of file: MigrationFile,
        on connection: PostgresConnection
    ) async throws {
        do {
            try await connection.query(PostgresQuery(unsafeSQL: statement.text), logger: logger).drain()
        } catch {
            throw failure(error, statement: statement, number: number, of: file)
        }
    }

    func failure(
        _ error: any Error,
        statement: SQLScript.Statement?,
        number: Int,
        of file: MigrationFile
    )
        -> MigrationError
    {
        guard let psql = error as? PSQLError, psql.code == .server, let info = psql.serverInfo else {
            return Self.map(error)
        }
        var line = statement?.line ?? 1
        var column = statement?.column ?? 1
        if let statement, let position = info[.position].flatMap(Int.init) {
            (line, column) = statement.location(ofPosition: position)
        }
        return .migrationFailed(
            MigrationFailure(
                file: file.path,
                statement: number,
                line: line,
                column: column,
                sqlState: info[.sqlState],
                message: info[.message] ?? "unknown error",
                detail: info[.detail],
                hint: info[.hint],
                isTransactional: file.isTransactional
            )
        )
    }
}
