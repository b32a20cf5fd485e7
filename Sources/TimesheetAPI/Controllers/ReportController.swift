import Hummingbird
import TimesheetDomain

/// `/reports`: hours over every user's entries, for callers with read:reports.
struct ReportController<Repository: TimesheetRepository>: Sendable {
    let timesheets: TimesheetService<Repository>

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessPolicy) {
        group.add(middleware: access.requiring(.readReports))
            .get("hours", use: hours)
    }

    /// GET /reports/hours — JSON, or CSV for `Accept: text/csv`; streamed either way.
    @Sendable func hours(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        let format = try ReportFormat.negotiate(request.headers[.accept])
        let report = try request.queryParameters().hoursReportRequest().get()
        let rows = try await timesheets.hoursReport(report, for: caller)
        return HoursReportBody(request: report, rows: rows).response(format)
    }
}
