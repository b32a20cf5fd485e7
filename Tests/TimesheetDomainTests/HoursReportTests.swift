import Testing
import TimesheetDomain
import TimesheetDomainTesting

@Suite struct HoursReportRequestTests {
    func field(_ name: String, _ text: String?) -> InputField { InputField(name, text.map(InputValue.string)) }

    func validate(
        from: String? = "2019-06-01",
        to: String? = "2019-06-30",
        groupBy: String? = nil,
        status: String? = nil,
        userID: String? = nil,
        project: String? = nil
    ) -> Result<HoursReportRequest, TimesheetError> {
        HoursReportRequest.validate(
            from: field("from", from),
            to: field("to", to),
            groupBy: field("group_by", groupBy),
            status: field("status", status),
            userID: field("user_id", userID),
            project: field("project", project)
        )
    }

    func errors(_ result: Result<HoursReportRequest, TimesheetError>) -> [FieldError] {
        guard case .failure(.validationFailed(let errors)) = result else { return [] }
        return errors
    }

    @Test func defaultsAreApprovedHoursPerUserAndProject() throws {
        let request = try validate().get()
        #expect(request.from == CalendarDay(year: 2019, month: 6, day: 1))
        #expect(request.to == CalendarDay(year: 2019, month: 6, day: 30))
        #expect(request.groupBy == [.user, .project])
        #expect(request.status == .approved)
        #expect(request.userID == nil && request.project == nil)
    }

    @Test func groupingKeepsTheOrderAsked() throws {
        #expect(try validate(groupBy: "week,user").get().groupBy == [.week, .user])
        #expect(try validate(groupBy: "day").get().groupBy == [.day])
        #expect(try validate(groupBy: "project, day ,week,user").get().groupBy == [.project, .day, .week, .user])
    }

    @Test func statusesAndFilters() throws {
        #expect(try validate(status: "all").get().status == nil)
        #expect(try validate(status: "pending").get().status == .pending)
        #expect(try validate(status: "rejected").get().status == .rejected)
        let filtered = try validate(userID: "auth0|dev-employee", project: "  StoreZero ").get()
        #expect(filtered.userID == "auth0|dev-employee")
        #expect(filtered.project == "StoreZero", "project names are trimmed as when they are stored")
    }

    @Test func unknownAndDuplicateGroupsHaveTheirOwnCodes() {
        #expect(errors(validate(groupBy: "user,month")).map(\.code) == [.unknownGrouping])
        #expect(errors(validate(groupBy: "user,user")).map(\.code) == [.duplicateGrouping])
        #expect(errors(validate(groupBy: "")).map(\.code) == [.unknownGrouping])
        #expect(errors(validate(groupBy: "user,,day")).map(\.code) == [.unknownGrouping])
        #expect(errors(validate(groupBy: "USER")).map(\.code) == [.unknownGrouping], "names are lowercase")
        let both = errors(validate(groupBy: "user,x,user,y,user"))
        #expect(both.map(\.code) == [.unknownGrouping, .duplicateGrouping], "one error per kind of problem")
        #expect(both.allSatisfy { $0.field == "group_by" })
        #expect(both[0].message.contains("'x'") && both[0].message.contains("user, project, week, day"))
        let typed = HoursReportRequest.validate(
            from: field("from", "2019-06-01"),
            to: field("to", "2019-06-02"),
            groupBy: InputField("group_by", .number("1")),
            status: field("status", nil),
            userID: field("user_id", nil),
            project: field("project", nil)
        )
        #expect(errors(typed).map(\.code) == [.invalidType])
    }

    @Test func rangeIsRequiredOrderedAndAtMost366Days() throws {
        #expect(errors(validate(from: nil, to: nil)).map(\.code) == [.required, .required])
        #expect(errors(validate(from: nil, to: nil)).map(\.field) == ["from", "to"])
        #expect(errors(validate(from: "2019-13-01")).map(\.code) == [.invalidDate])
        #expect(errors(validate(from: "2019-06-30", to: "2019-06-01")).map(\.code) == [.outOfRange])
        #expect(
            try validate(from: "2019-06-01", to: "2019-06-01").get().from == CalendarDay(year: 2019, month: 6, day: 1)
        )
        // 2020 is a leap year: 2020-01-01 ... 2020-12-31 is 366 days, both ends included.
        #expect((try? validate(from: "2020-01-01", to: "2020-12-31").get()) != nil)
        let tooLong = errors(validate(from: "2020-01-01", to: "2021-01-01"))
        #expect(tooLong.map(\.code) == [.outOfRange])
        #expect(tooLong.map(\.field) == ["to"])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let all = errors(validate(from: "x", to: nil, groupBy: "hour", status: "done", userID: "", project: ""))
        #expect(all.map(\.field) == ["from", "to", "group_by", "status", "user_id", "project"])
        #expect(all.map(\.code) == [.invalidDate, .required, .unknownGrouping, .invalidValue, .empty, .empty])
    }

    @Test func isoWeeksAreLabelledAsISO8601Says() {
        func week(_ text: String) -> String { ISOWeek(containing: try! CalendarDay.parse(text).get()).description }
        #expect(week("2019-06-03") == "2019-W23")
        #expect(week("2019-06-02") == "2019-W22")
        #expect(week("2021-01-03") == "2020-W53", "early January can belong to the previous year's last week")
        #expect(week("2019-12-30") == "2020-W01", "late December can belong to the next year's first week")
    }
}

@Suite struct HoursReportServiceTests {
    @Test func reportsNeedTheirPermission() async throws {
        let service = TimesheetService(repository: InMemoryTimesheetRepository())
        let request = HoursReportRequest(
            from: CalendarDay(year: 2019, month: 6, day: 1)!,
            to: CalendarDay(year: 2019, month: 6, day: 30)!
        )
        let manager = Caller(userID: "manager", permissions: [.read, .approve])
        await #expect(throws: TimesheetError.forbidden(missing: .readReports)) {
            _ = try await service.hoursReport(request, for: manager)
        }
        let reporter = Caller(userID: "reporter", permissions: [.readReports])
        var rows = 0
        for try await _ in try await service.hoursReport(request, for: reporter) { rows += 1 }
        #expect(rows == 0)
    }
}

@Suite struct HoursReportRowsTests {
    struct Counted: AsyncSequence, Sendable {
        let count: Int
        struct AsyncIterator: AsyncIteratorProtocol {
            let count: Int
            var index = 0
            mutating func next() async throws -> HoursReportRow? {
                guard index < count else { return nil }
                defer { index += 1 }
                return HoursReportRow(userID: "user-\(index)", hours: Hours(hundredths: index), entries: 1)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(count: count) }
    }

    /// Rows read one at a time are handed on in full batches but the last, in order, and read back one by one.
    @Test(arguments: [0, 1, 3, 7, 9])
    func rowsAreGatheredIntoBatches(count: Int) async throws {
        let rows = HoursReportRows(Counted(count: count), batchSize: 3)
        var sizes: [Int] = []
        var batched: [Int] = []
        for try await batch in rows.batches {
            sizes.append(batch.count)
            batched += batch.map(\.hours.hundredths)
        }
        let last: [Int] = count % 3 == 0 ? [] : [count % 3]
        let expectedSizes: [Int] = Array(repeating: 3, count: count / 3) + last
        #expect(sizes == expectedSizes)
        #expect(batched == Array(0..<count))
        var single: [Int] = []
        for try await row in rows { single.append(row.hours.hundredths) }
        #expect(single == Array(0..<count))
    }

    @Test func rowsInMemoryAreOneBatch() async throws {
        let rows = (0..<5).map { HoursReportRow(hours: Hours(hundredths: $0), entries: 1) }
        var batches: [[HoursReportRow]] = []
        for try await batch in HoursReportRows(rows).batches { batches.append(batch) }
        #expect(batches == [rows])
        var none = 0
        for try await _ in HoursReportRows([]).batches { none += 1 }
        #expect(none == 0, "no empty batch")
    }
}
