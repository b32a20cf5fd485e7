import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TimesheetDomain
import TimesheetDomainTesting

@testable import TimesheetAPI

/// GET /reports/hours: scopes, parameters, both media types, and exact sums.
@Suite struct ReportRouteTests {
    static let now = Date(timeIntervalSince1970: 1_560_000_000)

    /// Entries with hand-computed totals: in June 2019 (approved unless said) alice has 7.35 + 0.65 h on
    /// StoreZero, 0.1 h pending and 2 h on "=HYPERLINK(...)"; bob 8 h on StoreZero, 2.5 h rejected.
    static func seed(_ repository: InMemoryTimesheetRepository) async throws {
        func add(
            _ user: String,
            _ date: String,
            _ hundredths: Int,
            _ project: String,
            _ status: TimesheetStatus
        )
            async throws
        {
            let entry = NewTimesheet(
                userID: user,
                date: try CalendarDay.parse(date).get(),
                project: project,
                hours: Hours(hundredths: hundredths)
            )
            let stored = try await repository.insert([entry], at: now)[0]
            switch status {
            case .pending: break
            case .approved:
                _ = try await repository.update(stored.id, by: "manager") { try $0.approved(by: "m", at: now) }
            case .rejected:
                _ = try await repository.update(stored.id, by: "manager") {
                    try $0.rejected(by: "m", reason: nil, at: now)
                }
            }
        }
        try await add("alice", "2019-06-02", 735, "StoreZero", .approved)
        try await add("alice", "2019-06-03", 65, "StoreZero", .approved)
        try await add("alice", "2019-06-03", 10, "StoreZero", .pending)
        try await add("alice", "2019-06-04", 200, #"=HYPERLINK("http://x","a, b")"#, .approved)
        try await add("bob", "2019-06-04", 800, "StoreZero", .approved)
        try await add("bob", "2019-06-05", 250, "StoreZero", .rejected)
        try await add("bob", "2019-07-01", 100, "StoreZero", .approved)
    }

    @Test func jsonRowsAreSortedAndSummedExactly() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            try await Self.seed(api.repository)
            try await client.execute(
                uri: "/reports/hours?from=2019-06-01&to=2019-06-30",
                method: .get,
                headers: api.headers(.manager)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(
                    response.text == #"{"from":"2019-06-01","to":"2019-06-30","group_by":["user","project"],"#
                        + #""status":"approved","rows":["#
                        + #"{"user_id":"alice","project":"=HYPERLINK(\"http://x\",\"a, b\")","hours":2,"entries":1},"#
                        + #"{"user_id":"alice","project":"StoreZero","hours":8,"entries":2},"#
                        + #"{"user_id":"bob","project":"StoreZero","hours":8,"entries":1}],"total_hours":18}"#
                )
            }
            try await client.execute(
                uri: "/reports/hours?from=2019-06-01&to=2019-06-30&group_by=week,day&status=all&project=StoreZero",
                method: .get,
                headers: api.headers(.manager)
            ) { response in
                #expect(response.status == .ok)
                let rows = try #require(response.json["rows"] as? [[String: Any]])
                #expect(rows.map { $0["week"] as? String } == ["2019-W22", "2019-W23", "2019-W23", "2019-W23"])
                #expect(rows.map { $0["day"] as? String } == ["2019-06-02", "2019-06-03", "2019-06-04", "2019-06-05"])
                #expect(rows.map { $0["entries"] as? Int } == [1, 2, 1, 1])
                #expect(response.json["status"] as? String == "all")
                #expect(response.json["group_by"] as? [String] == ["week", "day"])
                // 7.35 + 0.75 + 8 + 2.5, written as exact decimals.
                #expect(response.text.hasSuffix(#""total_hours":18.6}"#))
                #expect(response.text.contains(#""hours":0.75,"#))
            }
            try await client.execute(
                uri: "/reports/hours?from=2019-06-01&to=2019-06-30&group_by=day&status=pending&user_id=alice",
                method: .get,
                headers: api.headers(.manager)
            ) { response in
                let expected = #""rows":[{"day":"2019-06-03","hours":0.1,"entries":1}],"total_hours":0.1}"#
                #expect(response.text.hasSuffix(expected))
            }
        }
    }

    @Test func csvIsAnAttachmentWithQuotedAndDefusedCells() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            try await Self.seed(api.repository)
            var headers = api.headers(.manager)
            headers[.accept] = "text/csv"
            try await client.execute(
                uri: "/reports/hours?from=2019-06-01&to=2019-06-30&group_by=project,user",
                method: .get,
                headers: headers
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                let disposition = #"attachment; filename="hours-2019-06-01-2019-06-30.csv""#
                #expect(response.headers[.contentDisposition] == disposition)
                #expect(
                    response.text == "project,user_id,hours,entries\r\n"
                        + #""'=HYPERLINK(""http://x"",""a, b"")",alice,2,1"# + "\r\n"
                        + "StoreZero,alice,8,2\r\n"
                        + "StoreZero,bob,8,1\r\n"
                )
            }
        }
    }

    @Test func acceptIsNegotiated() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let cases: [(String, String?)] = [
                ("application/json", "application/json; charset=utf-8"),
                ("*/*", "application/json; charset=utf-8"),
                ("text/*", "text/csv; charset=utf-8"),
                ("text/csv;q=0.5, application/json;q=0.9", "application/json; charset=utf-8"),
                ("application/json;q=0, text/csv", "text/csv; charset=utf-8"),
                ("text/html, TEXT/CSV", "text/csv; charset=utf-8"),
                ("application/xml", nil),
                ("text/csv;q=0", nil),
                ("image/png, text/html;q=0.9", nil),
            ]
            for (accept, expected) in cases {
                var headers = api.headers(.manager)
                headers[.accept] = accept
                try await client.execute(
                    uri: "/reports/hours?from=2019-06-01&to=2019-06-30",
                    method: .get,
                    headers: headers
                ) { response in
                    if let expected {
                        #expect(response.status == .ok, "\(accept)")
                        #expect(response.headers[.contentType] == expected, "\(accept)")
                    } else {
                        #expect(response.status == .notAcceptable, "\(accept)")
                        #expect(response.headers[.contentType] == "application/problem+json")
                        #expect(response.json["code"] as? String == "not_acceptable", "\(accept)")
                    }
                }
            }
        }
    }

    @Test func badParametersAre400WithEveryProblem() async throws {
        try await APIHarness.run(callers: .fake) { api, client in
            let cases: [(String, [String], [String])] = [
                ("", ["from", "to"], ["required", "required"]),
                ("from=2019-06-01&to=2019-06-30&group_by=user,user", ["group_by"], ["duplicate_grouping"]),
                ("from=2019-06-01&to=2019-06-30&group_by=user,month", ["group_by"], ["unknown_grouping"]),
                ("from=2019-06-01&to=2019-06-30&group_by=", ["group_by"], ["unknown_grouping"]),
                ("from=2019-06-01&to=2019-06-30&status=done", ["status"], ["invalid_value"]),
                ("from=2019-01-01&to=2020-01-02", ["to"], ["out_of_range"]),
                ("from=2019-06-30&to=2019-06-01", ["to"], ["out_of_range"]),
                (
                    "from=2019-02-30&to=x&project=", ["from", "to", "project"],
                    ["invalid_date", "invalid_date", "empty"]
                ),
            ]
            for (query, fields, codes) in cases {
                try await client.execute(uri: "/reports/hours?\(query)", method: .get, headers: api.headers(.manager)) {
                    response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(response.json["code"] as? String == "validation_failed", "\(query)")
                    #expect(response.problemFields == fields, "\(query)")
                    let errorCodes = (response.json["errors"] as? [[String: Any]] ?? []).compactMap {
                        $0["code"] as? String
                    }
                    #expect(errorCodes == codes, "\(query)")
                }
            }
            try await client.execute(uri: "/reports/hours?from=%FF", method: .get, headers: api.headers(.manager)) {
                response in
                #expect(response.status == .badRequest)
                #expect(response.json["code"] as? String == "malformed_query")
            }
        }
    }

    @Test func reportsNeedReadReports() async throws {
        try await APIHarness.run { api, client in
            let uri = "/reports/hours?from=2019-06-01&to=2019-06-30"
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            for role in [Role.employee, .contractor, .machine, .reader] {
                try await client.execute(uri: uri, method: .get, headers: api.headers(role)) { response in
                    #expect(response.status == .forbidden, "\(role)")
                    #expect(response.json["code"] as? String == "insufficient_scope")
                    #expect(response.headers[.wwwAuthenticate]?.contains(#"scope="read:reports""#) == true)
                }
            }
            // approve:timesheets alone does not read reports: read:reports is its own permission.
            let approver = api.token(subject: "auth0|approver", scope: "approve:timesheets read:timesheets")
            try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(approver)"]) {
                response in
                #expect(response.status == .forbidden)
            }
            let reporter = api.token(subject: "auth0|reporter", scope: "read:reports")
            try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(reporter)"]) {
                response in
                #expect(response.status == .ok)
                #expect(response.text.hasSuffix(#""rows":[],"total_hours":0}"#))
            }
        }
    }
}

/// The report body streams: bounded chunks, whatever the number of rows.
@Suite struct HoursReportBodyTests {
    /// Rows made on demand, never held together.
    struct GeneratedRows: AsyncSequence, Sendable {
        let count: Int
        struct AsyncIterator: AsyncIteratorProtocol {
            var index = 0
            let count: Int
            mutating func next() async throws -> HoursReportRow? {
                guard index < count else { return nil }
                defer { index += 1 }
                return HoursReportRow(
                    userID: "user-\(index / 100)",
                    day: CalendarDay(daysSinceEpoch: 18_000 + index % 100),
                    hours: Hours(hundredths: 1 + index % 2_400),
                    entries: 1
                )
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(count: count) }
    }

    /// Records what a response body writes.
    struct RecordingWriter: ResponseBodyWriter {
        var sizes: [Int] = []
        var bytes = 0
        var last = ByteBuffer()
        var finished = false
        mutating func write(_ buffer: ByteBuffer) async throws {
            sizes.append(buffer.readableBytes)
            bytes += buffer.readableBytes
            last = buffer
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    @Test(arguments: [ReportFormat.csv, .json])
    func largeReportsAreWrittenInBoundedChunks(_ format: ReportFormat) async throws {
        let request = HoursReportRequest(
            from: CalendarDay(daysSinceEpoch: 18_000),
            to: CalendarDay(daysSinceEpoch: 18_099),
            groupBy: [.user, .day]
        )
        let rows = 200_000
        let body = HoursReportBody(request: request, rows: HoursReportRows(GeneratedRows(count: rows)))
        var writer: any ResponseBodyWriter = RecordingWriter()
        switch format {
        case .csv: try await body.writeCSV(to: &writer)
        case .json: try await body.writeJSON(to: &writer)
        }
        let recorded = try #require(writer as? RecordingWriter)
        #expect(recorded.bytes > 5_000_000, "\(recorded.bytes) bytes")
        #expect(recorded.sizes.count > 100, "written as it goes: \(recorded.sizes.count) writes")
        #expect(recorded.sizes.max()! < HoursReportBody.chunkSize + 1_024, "no write holds more than a chunk")
        if format == .json {
            // 200,000 rows of 1 ... 24 hours cycling, summed exactly.
            let hundredths = (0..<rows).reduce(0) { $0 + 1 + $1 % 2_400 }
            #expect(String(buffer: recorded.last).hasSuffix(#""total_hours":\#(Hours(hundredths: hundredths))}"#))
        }
    }

    /// The bytes a report writes for its values are their `description`s, over every kind of value.
    @Test func valuesAreWrittenAsTheirDescriptions() {
        func written(_ write: (inout ByteBuffer) -> Void) -> String {
            var buffer = ByteBuffer()
            write(&buffer)
            return String(buffer: buffer)
        }
        var mismatches: [String] = []
        for days in Array(stride(from: -719_000, through: 2_932_800, by: 997)) + [-1, 0, 1, 18_262, 2_932_890] {
            let day = CalendarDay(daysSinceEpoch: days)
            let week = ISOWeek(containing: day)
            if written({ ReportValueText.write(day, to: &$0) }) != day.description { mismatches.append("\(day)") }
            if written({ ReportValueText.write(week, to: &$0) }) != week.description { mismatches.append("\(week)") }
        }
        for hundredths in Array(-250...3_000) + [9_999, 10_000, 123_456_789, Int.max, Int.min + 1] {
            let hours = Hours(hundredths: hundredths)
            if written({ ReportValueText.write(hours, to: &$0) }) != hours.description { mismatches.append("\(hours)") }
        }
        for number in [0, 1, 9, 10, 99, 100, 101, 999_999, 1_000_000, Int.max, -1, -10, Int.min] {
            if written({ ReportValueText.write(number, to: &$0) }) != String(number) { mismatches.append("\(number)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
    }

    /// ``CSVCell/write(_:to:)`` writes what ``CSVCell/encode(_:)`` returns, hostile and non-ASCII text included.
    @Test func cellsAreWrittenAsEncoded() {
        let texts = [
            "StoreZero", "=1+2", "+1", "-1", "@SUM(A1)", "\tcmd", "\rcmd", "\r\ncmd", "a,b", "say \"hi\"",
            "=cmd|' /C calc'!A0,\"x\"", "two\nlines", " padded ", " lead", "trail ", "a=b", "", " ", "\"", "\"\"",
            ",", "'", "=", "é", "\"\u{301}x\"", " \u{301}", "x \u{301}", "\u{600} ", "=é", "é,\"", "Projekt Ü",
            "日本語, \"引用\"", "\u{0}", "a\u{7f}b", "-\"quoted\" minus", "\n", "\r", "\t",
        ]
        var mismatches: [String] = []
        for text in texts {
            var buffer = ByteBuffer()
            CSVCell.write(text, to: &buffer)
            let bytes = Array(buffer.readableBytesView)
            if bytes != Array(CSVCell.encode(text).utf8) { mismatches.append(text.debugDescription) }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test func cellsAreQuotedAndFormulasDefused() {
        #expect(CSVCell.encode("StoreZero") == "StoreZero")
        #expect(CSVCell.encode("=1+2") == "'=1+2")
        #expect(CSVCell.encode("+1") == "'+1")
        #expect(CSVCell.encode("-1") == "'-1")
        #expect(CSVCell.encode("@SUM(A1)") == "'@SUM(A1)")
        #expect(CSVCell.encode("\tcmd") == "'\tcmd")
        #expect(CSVCell.encode("\rcmd") == "\"'\rcmd\"")
        #expect(CSVCell.encode("\r\ncmd") == "\"'\r\ncmd\"")
        #expect(CSVCell.encode("a,b") == "\"a,b\"")
        #expect(CSVCell.encode("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVCell.encode("=cmd|' /C calc'!A0,\"x\"") == "\"'=cmd|' /C calc'!A0,\"\"x\"\"\"")
        #expect(CSVCell.encode("two\nlines") == "\"two\nlines\"")
        #expect(CSVCell.encode(" padded ") == "\" padded \"")
        #expect(CSVCell.encode("a=b") == "a=b", "only the first character makes a formula")
        #expect(CSVCell.encode("") == "")
    }
}
