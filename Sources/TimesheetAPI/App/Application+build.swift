import AuthKit
import Foundation
import Hummingbird
import Logging
import TimesheetDomain

/// What the router is built from; tests build it with any repository.
struct RouterDependencies<Repository: TimesheetRepository>: Sendable {
    var timesheets: TimesheetService<Repository>
    /// Who each request speaks for (``BearerIdentityVerifier`` in production).
    var identities: any IdentityVerifier
    var readiness: [any ReadinessCheck]
    var metrics: ServerMetrics
    var corsAllowedOrigins: [String] = []
    var bodyLimit = 1 << 20
    var batchBodyLimit = 10 << 20
    var webClient: WebClient.Configuration? = nil
    /// Read-your-writes for reads that may go to a standby (`DATABASE_READ_URL`).
    var reads: (any ReadConsistency)? = nil
    var clientAllowlists = ClientAllowlists()
}

/// The API's routes and middleware. `extraRoutes` lets dev mode mount its identity provider; `serve` never does.
func buildRouter<Repository: TimesheetRepository>(
    _ dependencies: RouterDependencies<Repository>,
    extraRoutes: (Router<AppRequestContext>) -> Void = { _ in }
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: StandardResponseHeadersMiddleware())
    router.add(middleware: RequestLogMiddleware(metrics: dependencies.metrics))
    router.add(middleware: CORSPolicyMiddleware(allowedOrigins: Set(dependencies.corsAllowedOrigins)))
    router.add(middleware: ErrorMiddleware())

    let access = AccessPolicy(
        verifier: dependencies.identities,
        metrics: dependencies.metrics,
        reads: dependencies.reads,
        clientAllowlists: dependencies.clientAllowlists
    )
    let bodies = RequestBodyReader(limit: dependencies.bodyLimit, batchLimit: dependencies.batchBodyLimit)

    SystemController(readiness: dependencies.readiness, metrics: dependencies.metrics)
        .addRoutes(to: router, access: access)
    TimesheetController(timesheets: dependencies.timesheets, bodies: bodies, today: { CalendarDay(utcDayOf: Date()) })
        .addRoutes(to: router.group("timesheets"), access: access)
    ApprovalController(timesheets: dependencies.timesheets, bodies: bodies)
        .addRoutes(to: router.group("approvals"), access: access)
    ReportController(timesheets: dependencies.timesheets)
        .addRoutes(to: router.group("reports"), access: access)
    MessagesController().addRoutes(to: router.group("api"), access: access)
    WebClient(configuration: dependencies.webClient).addRoutes(to: router)
    extraRoutes(router)
    return router
}
