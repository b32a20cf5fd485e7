import NIOCore
import TimesheetDomain

/// A report's values written as text straight into a `ByteBuffer`, byte for byte what their `description` is, without
/// building a `String` for each: a large report writes hundreds of thousands of them (tests check they agree).
enum ReportValueText {
    /// `YYYY-MM-DD`, as ``CalendarDay/description``.
    static func write(_ day: CalendarDay, to buffer: inout ByteBuffer) {
        buffer.writeWithCursor(reserving: 24) { $0.day(day) }
    }

    /// `2019-W23`, as ``ISOWeek/description``.
    static func write(_ week: ISOWeek, to buffer: inout ByteBuffer) {
        let (year, number) = week.start.isoWeek
        buffer.writeWithCursor(reserving: 24) { cursor in
            cursor.decimal(Int64(year))
            cursor.raw("-W")
            cursor.digits(number, width: 2)
        }
    }

    /// `7.5`, `8`, `0.05`, as ``Hours/description``.
    static func write(_ hours: Hours, to buffer: inout ByteBuffer) {
        buffer.writeWithCursor(reserving: 24) { $0.hours(hours) }
    }

    /// An integer in decimal, as `String(number)`.
    static func write(_ number: Int, to buffer: inout ByteBuffer) {
        buffer.writeWithCursor(reserving: 20) { $0.decimal(Int64(number)) }
    }
}
