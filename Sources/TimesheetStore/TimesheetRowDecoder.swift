import Foundation
import NIOCore
import PostgresNIO
import TimesheetDomain

/// Reads a row of ``PostgresTimesheetRepository/columns`` straight from its binary cells.
///
/// Why: PostgresNIO's variadic `row.decode((12 types).self)` goes through generic decoding and looks up the tuple's
/// metadata for every row; on the list route (20 rows a request) that was 10% of the server's CPU samples. The cells
/// here have fixed types (int8, int4, text, timestamptz), so each is read directly. A row in any other shape (text
/// format, an unexpected type) returns `nil` and is decoded the generic way, so this can only be faster, never wrong.
enum TimesheetRowDecoder {
    /// The same instant PostgresNIO uses, so a decoded `Date` is identical to the generic path's.
    private static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)

    static func timesheet(_ row: PostgresRow) -> Timesheet? { timesheet(cells: row) }

    /// The entry in `cells`, which must be exactly its columns.
    static func timesheet(cells row: some Sequence<PostgresCell>) -> Timesheet? {
        // Each cell is bound once and lent to a reader (`borrowing`), never copied into an optional: copying cells
        // (their bytes and column name) was a tenth of the store path's CPU in StoreBench's profile.
        var cells = row.makeIterator()
        guard let idCell = cells.next(), let id = int64(idCell),
            let userCell = cells.next(), let userID = text(userCell),
            let dayCell = cells.next(), let day = int32(dayCell),
            let projectCell = cells.next(), let project = text(projectCell),
            let hoursCell = cells.next(), let hundredths = int32(hoursCell),
            let notesCell = cells.next(), let notes = optionalText(notesCell),
            let statusCell = cells.next(), let statusText = text(statusCell),
            let status = TimesheetStatus(rawValue: statusText),
            let createdCell = cells.next(), let createdAt = date(createdCell),
            let updatedCell = cells.next(), let updatedAt = date(updatedCell),
            let reviewerCell = cells.next(), let reviewedBy = optionalText(reviewerCell),
            let reviewedCell = cells.next(), let reviewedAt = optionalDate(reviewedCell),
            let reasonCell = cells.next(), let reason = optionalText(reasonCell),
            let creatorCell = cells.next(), let createdBy = text(creatorCell),
            cells.next() == nil
        else { return nil }
        return Timesheet(
            id: TimesheetID(id),
            userID: userID,
            date: CalendarDay(daysSinceEpoch: Int(day)),
            project: project,
            hours: Hours(hundredths: Int(hundredths)),
            notes: notes,
            status: status,
            createdAt: createdAt,
            updatedAt: updatedAt,
            reviewedBy: reviewedBy,
            reviewedAt: reviewedAt,
            rejectionReason: reason,
            createdBy: createdBy
        )
    }

    private static func int64(_ cell: borrowing PostgresCell) -> Int64? {
        guard cell.format == .binary, cell.dataType == .int8 else { return nil }
        return cell.bytes.flatMap { $0.readableBytes == 8 ? $0.getInteger(at: $0.readerIndex, as: Int64.self) : nil }
    }

    private static func int32(_ cell: borrowing PostgresCell) -> Int32? {
        guard cell.format == .binary, cell.dataType == .int4 else { return nil }
        return cell.bytes.flatMap { $0.readableBytes == 4 ? $0.getInteger(at: $0.readerIndex, as: Int32.self) : nil }
    }

    private static func text(_ cell: borrowing PostgresCell) -> String? {
        guard cell.dataType == .text || cell.dataType == .varchar else { return nil }
        return cell.bytes.map { String(buffer: $0) }
    }

    /// `.some(nil)` for SQL NULL, `nil` for a cell of another shape.
    private static func optionalText(_ cell: borrowing PostgresCell) -> String?? {
        guard cell.dataType == .text || cell.dataType == .varchar else { return nil }
        return .some(cell.bytes.map { String(buffer: $0) })
    }

    private static func date(_ cell: borrowing PostgresCell) -> Date? {
        guard cell.format == .binary, cell.dataType == .timestamptz else { return nil }
        return cell.bytes.flatMap(microsecondsSince2000).map(date(microseconds:))
    }

    /// `.some(nil)` for SQL NULL, `nil` for a cell of another shape.
    private static func optionalDate(_ cell: borrowing PostgresCell) -> Date?? {
        guard cell.format == .binary, cell.dataType == .timestamptz else { return nil }
        guard cell.bytes != nil else { return .some(nil) }
        return cell.bytes.flatMap(microsecondsSince2000).map { .some(date(microseconds: $0)) }
    }

    private static func microsecondsSince2000(_ bytes: ByteBuffer) -> Int64? {
        bytes.readableBytes == 8 ? bytes.getInteger(at: bytes.readerIndex, as: Int64.self) : nil
    }

    /// A `timestamptz`'s binary value, microseconds since 2000-01-01 UTC, as a `Date` (the record reader's too).
    static func date(microseconds: Int64) -> Date {
        Date(timeInterval: Double(microseconds) / 1_000_000, since: postgresEpoch)
    }
}
