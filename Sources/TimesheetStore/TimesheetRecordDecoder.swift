import Foundation
import NIOCore
import PostgresNIO
import TimesheetDomain

/// Reads an entry that PostgreSQL sent as one composite value, `ROW(<columns>)`, in its binary record format.
///
/// Why: PostgresNIO builds a `PostgresCell` for every column of every row (its bytes and its column name, retained
/// and released), and on the list route's 20 rows of 13 columns that was 6% of the server's CPU (perf). One composite
/// column is one cell per row; its fields are read here from the record's bytes. The hottest statements
/// (``FirstPageStatement``, ``PendingPageStatement``) select ``selectList``.
///
/// The format is `record_send`'s: the number of fields, then for each field its type OID and its length (-1 for
/// NULL) and its value in the type's binary format. A record of any other shape throws; nothing is guessed.
enum TimesheetRecordDecoder {
    /// The select list of one entry as one composite value.
    static let selectList = "ROW(\(PostgresTimesheetRepository.columns))"

    /// Thrown when a row is not one binary record of the entry's fields and types.
    struct UnexpectedRecord: Error, CustomStringConvertible {
        var description: String
    }

    /// The entry in a row of ``selectList``.
    static func timesheet(_ row: PostgresRow) throws -> Timesheet {
        var cells = row.makeIterator()
        guard let cell = cells.next(), cells.next() == nil else {
            throw UnexpectedRecord(description: "expected one column, ROW(...), in an entry row")
        }
        guard cell.format == .binary, cell.dataType == .record, let bytes = cell.bytes else {
            throw UnexpectedRecord(description: "expected a binary record, got \(cell.dataType) in \(cell.format)")
        }
        return try timesheet(record: bytes)
    }

    /// The entries of a one-dimensional array of ``selectList`` records, in `array_send`'s binary format: the number
    /// of dimensions, a flag for NULL elements, the element type's OID, each dimension's length and lower bound, then
    /// each element's length and bytes. An array of any other shape, or with a NULL element, throws.
    static func timesheets(array: ByteBuffer) throws -> [Timesheet] {
        var buffer = array
        guard let dimensions = buffer.readInteger(as: Int32.self), let hasNulls = buffer.readInteger(as: Int32.self),
            let elementType = buffer.readInteger(as: UInt32.self)
        else { throw UnexpectedRecord(description: "an array of entries shorter than its header") }
        guard elementType == PostgresDataType.record.rawValue, hasNulls == 0 else {
            throw UnexpectedRecord(
                description: "expected an array of records without NULLs, got element type \(elementType), "
                    + "NULLs flag \(hasNulls)"
            )
        }
        if dimensions == 0, buffer.readableBytes == 0 { return [] }
        guard dimensions == 1 else {
            throw UnexpectedRecord(description: "expected a one-dimensional array of entries, got \(dimensions)")
        }
        guard let count = buffer.readInteger(as: Int32.self), buffer.readInteger(as: Int32.self) != nil else {
            throw UnexpectedRecord(description: "an array of entries shorter than its dimension")
        }
        // Each element takes at least its 4-byte length, so a count above that is a damaged array, not an allocation.
        guard count >= 0, Int(count) <= buffer.readableBytes / 4 else {
            throw UnexpectedRecord(
                description: "an array of \(count) entries in \(buffer.readableBytes) bytes"
            )
        }
        var entries: [Timesheet] = []
        entries.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            guard let length = buffer.readInteger(as: Int32.self), length >= 0,
                let record = buffer.readSlice(length: Int(length))
            else { throw UnexpectedRecord(description: "element \(index + 1) of \(count) of an array of entries") }
            entries.append(try timesheet(record: record))
        }
        guard buffer.readableBytes == 0 else {
            throw UnexpectedRecord(description: "\(buffer.readableBytes) bytes after the last of \(count) entries")
        }
        return entries
    }

    static func timesheet(record: ByteBuffer) throws -> Timesheet {
        var fields = RecordFields(record)
        guard fields.count == 13 else {
            throw UnexpectedRecord(description: "expected 13 fields in an entry record, got \(fields.count ?? -1)")
        }
        guard let id = fields.int64(), let userID = fields.text(), let day = fields.int32(),
            let project = fields.text(), let hundredths = fields.int32(), let notes = fields.optionalText(),
            let status = fields.text().flatMap(TimesheetStatus.init(rawValue:)),
            let createdAt = fields.timestamp(), let updatedAt = fields.timestamp(),
            let reviewedBy = fields.optionalText(), let reviewedAt = fields.optionalTimestamp(),
            let reason = fields.optionalText(), let createdBy = fields.text(), fields.isAtEnd
        else {
            throw UnexpectedRecord(
                description: "field \(fields.started) of 13 of an entry record has an unexpected type or value"
            )
        }
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
}

/// The fields of a binary record, read in order. Each reader returns `nil` when the next field is not of its type
/// (or is NULL where a value is required); the optional readers return `.some(nil)` for NULL.
private struct RecordFields {
    private var buffer: ByteBuffer
    /// The number of fields the record says it has, `nil` when it is too short to say.
    let count: Int?
    /// The fields begun so far: the one at fault, counting from 1, when a reader returns `nil`.
    private(set) var started = 0

    init(_ record: ByteBuffer) {
        buffer = record
        count = buffer.readInteger(as: Int32.self).map(Int.init)
    }

    var isAtEnd: Bool { started == count && buffer.readableBytes == 0 }

    mutating func int64() -> Int64? {
        guard header(.int8) == 8 else { return nil }
        return buffer.readInteger(as: Int64.self)
    }

    mutating func int32() -> Int32? {
        guard header(.int4) == 4 else { return nil }
        return buffer.readInteger(as: Int32.self)
    }

    mutating func text() -> String? { optionalText() ?? nil }

    mutating func optionalText() -> String?? {
        guard let length = header(.text, or: .varchar) else { return nil }
        if length < 0 { return .some(nil) }
        return buffer.readString(length: length).map { .some($0) }
    }

    mutating func timestamp() -> Date? { optionalTimestamp() ?? nil }

    mutating func optionalTimestamp() -> Date?? {
        guard let length = header(.timestamptz) else { return nil }
        if length < 0 { return .some(nil) }
        guard length == 8, let microseconds = buffer.readInteger(as: Int64.self) else { return nil }
        return .some(TimesheetRowDecoder.date(microseconds: microseconds))
    }

    /// Reads the next field's header when its type is `type` (or `alternative`): its value's length, -1 for NULL.
    /// `nil` past the last field, for another type, or when the record is shorter than the header says.
    private mutating func header(_ type: PostgresDataType, or alternative: PostgresDataType? = nil) -> Int? {
        guard let count, started < count else { return nil }
        started += 1
        guard let oid = buffer.readInteger(as: UInt32.self), let length = buffer.readInteger(as: Int32.self),
            length <= buffer.readableBytes
        else { return nil }
        let fieldType = PostgresDataType(oid)
        guard fieldType == type || fieldType == alternative else { return nil }
        return Int(length)
    }
}
