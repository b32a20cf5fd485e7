import Foundation
import Testing
import TimesheetDomain

@testable import TimesheetAPI

@Suite struct CursorTokenTests {
    @Test func tokensRoundTripWithinTheirOwnList() {
        let cursor = TimesheetCursor(
            order: .newestDayFirst,
            date: CalendarDay(year: 2017, month: 5, day: 10)!,
            id: TimesheetID(42)
        )
        #expect(CursorToken.decode(CursorToken.encode(cursor), order: .newestDayFirst) == cursor)
        #expect(
            CursorToken.decode(CursorToken.encode(cursor), order: .oldestFirst) == nil,
            "a cursor of another list is refused"
        )
    }

    /// Tokens are base64url without padding, exactly as before the one-pass encoder (and before the encoding moved out
    /// of the domain): cursors clients hold stay valid. Ids of 1 to 6 digits give every padding length. (A cursor's
    /// text, digits, letters, '.' and '-', never encodes to `+` or `/`, so only the padding is exercised here.)
    @Test func tokensKeepTheirFormat() {
        #expect(
            CursorToken.encode(
                TimesheetCursor(
                    order: .newestDayFirst,
                    date: CalendarDay(year: 2017, month: 5, day: 10)!,
                    id: TimesheetID(42)
                )
            )
                == "djEuZC4yMDE3LTA1LTEwLjQy"
        )
        let ids: [Int64] = [1, 12, 123, 1_234, 12_345, 123_456, 9_223_372_036_854_775_807]
        let days = [CalendarDay(year: 2017, month: 5, day: 10)!, CalendarDay(year: 1999, month: 12, day: 31)!]
        for id in ids {
            for day in days {
                for (order, letter) in [(TimesheetOrder.newestDayFirst, "d"), (.oldestFirst, "o")] {
                    let cursor = TimesheetCursor(order: order, date: day, id: TimesheetID(id))
                    let foundation = Data("v1.\(letter).\(day).\(id)".utf8).base64EncodedString()
                        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                        .replacingOccurrences(of: "=", with: "")
                    #expect(CursorToken.encode(cursor) == foundation)
                    #expect(CursorToken.decode(foundation, order: order) == cursor)
                }
            }
        }
    }

    @Test func badCursorsAreAFieldError() throws {
        for bad in ["", "abc", "djEuZC4yMDE3LTA1LTEwLi0x", String(repeating: "A", count: 500), "../../etc/passwd"] {
            let query = try QueryParameters(
                "cursor=" + (bad.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
            )
            guard case .failure(.validationFailed(let errors)) = query.pageRequest(order: .newestDayFirst) else {
                Issue.record("cursor \(bad) accepted")
                continue
            }
            #expect(errors.map(\.code) == [.invalidCursor])
            #expect(errors.map(\.field) == ["cursor"])
        }
        let both = try QueryParameters("limit=0&cursor=abc").pageRequest(order: .oldestFirst)
        guard case .failure(.validationFailed(let errors)) = both else {
            Issue.record("accepted")
            return
        }
        #expect(errors.map(\.field) == ["limit", "cursor"], "every problem at once, limit first")
        let token = CursorToken.encode(
            TimesheetCursor(order: .oldestFirst, date: CalendarDay(year: 2017, month: 5, day: 10)!, id: TimesheetID(7))
        )
        #expect(
            try QueryParameters("limit=2&cursor=\(token)").pageRequest(order: .oldestFirst).get().cursor?.id
                == TimesheetID(7)
        )
    }
}
