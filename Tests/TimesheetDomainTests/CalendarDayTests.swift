import Foundation
import Testing
import TimesheetDomain

@Suite struct CalendarDayTests {
    func day(_ text: String) -> CalendarDay { try! CalendarDay.parse(text).get() }

    @Test(arguments: [
        ("2017-05-10", "2017-05-10"),
        ("2017-05-10T17:40:20.095Z", "2017-05-10"),
        ("2017-05-10T23:59:59Z", "2017-05-10"),
        ("2017-05-10T00:00:00Z", "2017-05-10"),
        ("2017-05-10T23:30:00-02:00", "2017-05-11"),
        ("2017-05-10T01:00:00+02:00", "2017-05-09"),
        ("2017-05-10T01:00:00+0200", "2017-05-09"),
        ("2016-12-31T23:00:00-01:00", "2017-01-01"),
        ("2020-03-01T00:30:00+01:00", "2020-02-29"),
        ("2017-05-10t10:00z", "2017-05-10"),
    ])
    func parsesDaysAndDateTimesToTheirUTCDay(input: String, expected: String) throws {
        #expect(try CalendarDay.parse(input).get().description == expected)
    }

    @Test(arguments: [
        ("2017-5-10", CalendarDay.ParseFailure.malformed),
        ("10/05/2017", .malformed),
        ("", .malformed),
        ("2017-05-10T", .malformed),
        ("2017-05-10 garbage", .malformed),
        ("2017-05-10T10:00:00Zjunk", .malformed),
        ("2017-02-29", .outOfRange),
        ("2017-13-01", .outOfRange),
        ("2017-04-31", .outOfRange),
        ("0000-01-01", .outOfRange),
        ("2017-05-10T24:00:00Z", .outOfRange),
        ("2017-05-10T10:61:00Z", .outOfRange),
        ("2017-05-10T17:40:20", .missingTimeZone),
    ])
    func rejectsWhatIsNotADay(input: String, failure: CalendarDay.ParseFailure) {
        #expect(throws: failure) { try CalendarDay.parse(input).get() }
    }

    @Test func leapYears() {
        #expect(CalendarDay(year: 2000, month: 2, day: 29) != nil)
        #expect(CalendarDay(year: 1900, month: 2, day: 29) == nil)
        #expect(CalendarDay(year: 2024, month: 2, day: 29) != nil)
    }

    @Test func daysSinceEpochRoundTrips() {
        #expect(day("1970-01-01").daysSinceEpoch == 0)
        #expect(day("2000-03-01").daysSinceEpoch == 11_017)
        for offset in stride(from: -800_000, through: 2_900_000, by: 997) {
            #expect(CalendarDay(daysSinceEpoch: offset).daysSinceEpoch == offset)
        }
    }

    @Test func utcDayOfAnInstant() {
        #expect(CalendarDay(utcDayOf: Date(timeIntervalSince1970: 86_399)).description == "1970-01-01")
        #expect(CalendarDay(utcDayOf: Date(timeIntervalSince1970: 86_400)).description == "1970-01-02")
        #expect(CalendarDay(utcDayOf: Date(timeIntervalSince1970: -1)).description == "1969-12-31")
    }

    @Test(arguments: [
        ("2017-05-10", 2017, 19, "2017-05-08"),
        ("2021-01-03", 2020, 53, "2020-12-28"),
        ("2021-01-04", 2021, 1, "2021-01-04"),
        ("2019-12-30", 2020, 1, "2019-12-30"),
        ("2018-12-31", 2019, 1, "2018-12-31"),
    ])
    func isoWeeks(input: String, year: Int, week: Int, monday: String) {
        let value = day(input)
        #expect(value.isoWeek.year == year)
        #expect(value.isoWeek.week == week)
        #expect(value.startOfISOWeek.description == monday)
    }
}

@Suite struct HoursTests {
    @Test(arguments: [
        ("5", 500), ("7.5", 750), ("7.25", 725), ("0.01", 1), ("24", 2_400), ("24.00", 2_400), (" 8 ", 800),
        ("08.50", 850), (".5", 50), ("7.250", 725),
    ])
    func parsesPlainDecimals(text: String, hundredths: Int) throws {
        #expect(try Hours.parse(text).get() == Hours(hundredths: hundredths))
    }

    @Test(arguments: [
        ("0", Hours.ParseFailure.outOfRange), ("0.00", .outOfRange), ("-1", .outOfRange), ("-0", .outOfRange),
        ("24.01", .outOfRange), ("25", .outOfRange), ("99999999999999999999999", .outOfRange),
        ("7.125", .tooPrecise), ("1.001", .tooPrecise),
        ("abc", .notANumber), ("", .notANumber), ("1e1", .notANumber), ("NaN", .notANumber),
        ("Infinity", .notANumber), ("0x10", .notANumber), ("1,5", .notANumber), ("5.", .notANumber), ("-", .notANumber),
    ])
    func rejectsInvalidHours(text: String, failure: Hours.ParseFailure) {
        #expect(throws: failure) { try Hours.parse(text).get() }
    }

    @Test func sumsAreExactAndPrintShort() {
        #expect((Hours(hundredths: 735) + Hours(hundredths: 65)).description == "8")
        #expect(Hours(hundredths: 750).description == "7.5")
        #expect(Hours(hundredths: 705).description == "7.05")
        #expect(Hours(hundredths: 5).value == 0.05)
    }
}
