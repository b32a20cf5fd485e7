import TimesheetDomain

// The query parameters of the list routes, read into the domain's values. The domain validates them (ranges,
// `from <= to`, limits) under the parameters' names; only the cursor token is read here, since its encoding is the
// API's.
extension QueryParameters {
    /// Parameter `name` as the domain takes a raw value: its text, or absent.
    func field(_ name: String) -> InputField {
        InputField(name, self[name].map(InputValue.string))
    }

    /// `from`, `to`, `project` and `status` of a user's own list.
    func timesheetFilter() -> Result<TimesheetFilter, TimesheetError> {
        TimesheetFilter.validate(
            from: field("from"),
            to: field("to"),
            project: field("project"),
            status: field("status")
        )
    }

    /// `from` and `to` of the weekly summary.
    func summaryRange(today: CalendarDay) -> Result<SummaryRange, TimesheetError> {
        SummaryRange.validate(from: field("from"), to: field("to"), today: today)
    }

    /// `from`, `to`, `group_by`, `status`, `user_id` and `project` of an hours report.
    func hoursReportRequest() -> Result<HoursReportRequest, TimesheetError> {
        HoursReportRequest.validate(
            from: field("from"),
            to: field("to"),
            groupBy: field("group_by"),
            status: field("status"),
            userID: field("user_id"),
            project: field("project")
        )
    }

    /// `limit` and `cursor` of a list in `order`, every problem with both reported at once.
    func pageRequest(order: TimesheetOrder) -> Result<PageRequest, TimesheetError> {
        let cursor = CursorToken.read("cursor", self["cursor"], order: order)
        let page = PageRequest.validate(limit: field("limit"), after: try? cursor.get())
        switch (page, cursor) {
        case (.success, .success):
            return page
        case (.failure(.validationFailed(let errors)), .failure(let cursorError)):
            return .failure(.validationFailed(errors + [cursorError]))
        case (.failure, _):
            return page
        case (.success, .failure(let cursorError)):
            return .failure(.validationFailed([cursorError]))
        }
    }
}
