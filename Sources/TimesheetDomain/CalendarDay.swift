import Foundation

/// A day in the proleptic Gregorian calendar, with no time and no time zone.
///
/// Timesheet entries are recorded per day; a full ISO 8601 date-time maps to its calendar day in UTC.
public struct CalendarDay: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Creates a day, or returns `nil` when the components name no real day (for example February 30).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
            (1...CalendarDay.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The day that contains `daysSinceEpoch` days after 1970-01-01.
    public init(daysSinceEpoch: Int) {
        // Howard Hinnant's civil_from_days.
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        self.year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01 (negative before it).
    public var daysSinceEpoch: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The calendar day in UTC of an instant.
    public init(utcDayOf date: Date) {
        let seconds = Int((date.timeIntervalSince1970).rounded(.down))
        self.init(daysSinceEpoch: Int((Double(seconds) / 86_400).rounded(.down)))
    }

    public func adding(days: Int) -> CalendarDay {
        CalendarDay(daysSinceEpoch: daysSinceEpoch + days)
    }

    /// ISO 8601 weekday: Monday is 1, Sunday is 7.
    public var isoWeekday: Int {
        // 1970-01-01 was a Thursday (4).
        let remainder = (daysSinceEpoch + 3) % 7
        return (remainder < 0 ? remainder + 7 : remainder) + 1
    }

    /// The Monday that starts this day's ISO week.
    public var startOfISOWeek: CalendarDay { adding(days: 1 - isoWeekday) }

    /// The ISO 8601 week-numbering year and week number (1...53).
    public var isoWeek: (year: Int, week: Int) {
        // The week belongs to the year of its Thursday.
        let thursday = adding(days: 4 - isoWeekday)
        let firstOfYear = CalendarDay(year: thursday.year, month: 1, day: 1)!
        let week = (thursday.daysSinceEpoch - firstOfYear.daysSinceEpoch) / 7 + 1
        return (thursday.year, week)
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (lhs: CalendarDay, rhs: CalendarDay) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension CalendarDay {
    /// Why a text is not a day.
    public enum ParseFailure: Error, Equatable, Sendable {
        /// Not `YYYY-MM-DD` or an ISO 8601 date-time.
        case malformed
        /// Well-formed, but no such day or time (2017-02-30, 25:00).
        case outOfRange
        /// A date-time without `Z` or an offset: its UTC day is unknown.
        case missingTimeZone
    }

    /// Parses `YYYY-MM-DD`, or an ISO 8601 date-time (`2017-05-10T17:40:20.095Z`, `2017-05-10T23:30:00-02:00`)
    /// whose calendar day in UTC is returned.
    public static func parse(_ text: String) -> Result<CalendarDay, ParseFailure> {
        var scanner = DigitScanner(Array(text.utf8))
        guard let year = scanner.digits(4), scanner.skip("-"),
            let month = scanner.digits(2), scanner.skip("-"),
            let dayOfMonth = scanner.digits(2)
        else { return .failure(.malformed) }
        guard let day = CalendarDay(year: year, month: month, day: dayOfMonth) else {
            return .failure(.outOfRange)
        }
        if scanner.atEnd { return .success(day) }

        guard scanner.skip("T") || scanner.skip("t") || scanner.skip(" ") else { return .failure(.malformed) }
        guard let hour = scanner.digits(2), scanner.skip(":"), let minute = scanner.digits(2) else {
            return .failure(.malformed)
        }
        var second = 0
        if scanner.skip(":") {
            guard let value = scanner.digits(2) else { return .failure(.malformed) }
            second = value
            if scanner.skip(".") || scanner.skip(",") {
                guard scanner.skipDigits() > 0 else { return .failure(.malformed) }
            }
        }
        // 24:00:00 is not accepted; a leap second (60) is.
        guard hour < 24, minute < 60, second <= 60 else { return .failure(.outOfRange) }

        let offsetMinutes: Int
        if scanner.skip("Z") || scanner.skip("z") {
            offsetMinutes = 0
        } else if scanner.atEnd {
            return .failure(.missingTimeZone)
        } else {
            let sign: Int
            if scanner.skip("+") {
                sign = 1
            } else if scanner.skip("-") {
                sign = -1
            } else {
                return .failure(.malformed)
            }
            guard let offsetHours = scanner.digits(2) else { return .failure(.malformed) }
            _ = scanner.skip(":")
            guard let offsetMinute = scanner.digits(2) else { return .failure(.malformed) }
            guard offsetHours < 24, offsetMinute < 60 else { return .failure(.outOfRange) }
            offsetMinutes = sign * (offsetHours * 60 + offsetMinute)
        }
        guard scanner.atEnd else { return .failure(.malformed) }

        let minutesIntoDay = hour * 60 + minute - offsetMinutes
        let dayShift = minutesIntoDay < 0 ? -1 : (minutesIntoDay >= 1_440 ? 1 : 0)
        let utcDay = day.adding(days: dayShift)
        guard (1...9999).contains(utcDay.year) else { return .failure(.outOfRange) }
        return .success(utcDay)
    }
}

/// A tiny ASCII scanner for fixed-width numeric formats.
struct DigitScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func digits(_ count: Int) -> Int? {
        guard index + count <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[index..<index + count] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += count
        return value
    }

    mutating func skipDigits() -> Int {
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            index += 1
        }
        return index - start
    }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }
}
