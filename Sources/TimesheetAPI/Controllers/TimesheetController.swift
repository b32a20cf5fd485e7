import Foundation
import HTTPTypes
import Hummingbird
import TimesheetDomain

/// `/timesheets`: a caller's own entries, the weekly summary and the machine clients' batch upload.
struct TimesheetController<Repository: TimesheetRepository>: Sendable {
    let timesheets: TimesheetService<Repository>
    let bodies: RequestBodyReader
    let today: @Sendable () -> CalendarDay

    /// Each route with the permission it needs, checked by ``RequireAccess`` before the handler runs.
    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessPolicy) {
        group.group().add(middleware: access.requiring(.create))
            .post(use: create)
        group.group().add(middleware: access.requiring(.read))
            .get(use: list)
            .get("summary", use: summary)
            .get(":id", use: show)
            .get(":id/history", use: history)
        group.group().add(middleware: access.requiring(.batchUpload))
            .post("upload", use: upload)
        group.group().add(middleware: access.requiring(.update))
            .put(":id") { request, context in try await update(request, context, replacing: true) }
            .patch(":id") { request, context in try await update(request, context, replacing: false) }
        group.group().add(middleware: access.requiring(.delete))
            .delete(":id", use: delete)
    }

    /// POST /timesheets; with an `Idempotency-Key`, a repeat gets the first answer and creates nothing.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        guard let key = try IdempotencyKey.parse(request) else {
            // Without a key, nothing of idempotency runs: the entry is one prepared INSERT.
            let input = try await bodies.entry(request)
            let entry = try await timesheets.create(input, by: caller)
            return try .json(
                TimesheetResponse(entry),
                status: .created,
                headers: [.location: "/timesheets/\(entry.id)"]
            )
        }
        let (input, body) = try await bodies.entryAndBody(request)
        let write = IdempotencyKey.request(key: key, caller: caller, operation: "POST /timesheets", body: body) {
            IdempotencyKey.answer(status: .created, location: "/timesheets/\($0[0].id)", TimesheetResponse($0[0]))
        }
        return IdempotencyKey.response(try await timesheets.create(input, by: caller, idempotent: write))
    }

    /// GET /timesheets.
    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        let query = try request.queryParameters()
        let (validFilter, validPage) = try Self.both(query.timesheetFilter(), query.pageRequest(order: .newestDayFirst))
        return try .json(PageResponse(try await timesheets.list(validFilter, page: validPage, for: caller)))
    }

    /// GET /timesheets/summary.
    @Sendable func summary(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        let query = try request.queryParameters()
        let range = try query.summaryRange(today: today()).get()
        let weeks = try await timesheets.weeklySummary(range, for: caller)
        return try .json(SummaryResponse(range: range, weeks: weeks))
    }

    /// GET /timesheets/{id}/history: every change, oldest first, for the owner and reviewers; 404 for anyone else.
    @Sendable func history(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        return try .json(HistoryResponse(try await timesheets.history(try context.timesheetID(), for: caller)))
    }

    /// GET /timesheets/{id}; another user's entry is 404.
    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        return try .json(TimesheetResponse(try await timesheets.entry(try context.timesheetID(), for: caller)))
    }

    /// PUT or PATCH /timesheets/{id}.
    func update(_ request: Request, _ context: AppRequestContext, replacing: Bool) async throws -> Response {
        let caller = try context.caller()
        let id = try context.timesheetID()
        let input = try await bodies.entry(request)
        return try .json(
            TimesheetResponse(try await timesheets.update(id, with: input, replacing: replacing, by: caller))
        )
    }

    /// DELETE /timesheets/{id}.
    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        try await timesheets.delete(try context.timesheetID(), by: caller)
        return Response(status: .noContent)
    }

    /// POST /timesheets/upload: one entry object or an array; all or nothing. With an `Idempotency-Key`, a retry
    /// after a timeout gets the first answer and stores nothing twice.
    @Sendable func upload(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        guard let key = try IdempotencyKey.parse(request) else {
            let inputs = try await bodies.batch(request)
            let entries = try await timesheets.createBatch(inputs, by: caller)
            return try .json(BatchResponse(items: entries.map(TimesheetResponse.init)), status: .created)
        }
        let (inputs, body) = try await bodies.batchAndBody(request)
        let write = IdempotencyKey.request(
            key: key,
            caller: caller,
            operation: "POST /timesheets/upload",
            body: body
        ) { IdempotencyKey.answer(status: .created, BatchResponse(items: $0.map(TimesheetResponse.init))) }
        return IdempotencyKey.response(try await timesheets.createBatch(inputs, by: caller, idempotent: write))
    }

    struct BatchResponse: Encodable, JSONWritable {
        var items: [TimesheetResponse]

        var expectedJSONSize: Int { EntryListSize.expected(entries: items.count) }

        func writeJSON(to writer: inout JSONWriter) {
            writer.raw("{\"items\":[")
            for (index, item) in items.enumerated() {
                if index > 0 { writer.raw(",") }
                item.writeJSON(to: &writer)
            }
            writer.raw("]}")
        }
    }

    /// Both results, or one validation failure with the problems of both.
    static func both<A, B>(_ a: Result<A, TimesheetError>, _ b: Result<B, TimesheetError>) throws -> (A, B) {
        switch (a, b) {
        case (.success(let a), .success(let b)):
            return (a, b)
        case (.failure(.validationFailed(let first)), .failure(.validationFailed(let second))):
            throw TimesheetError.validationFailed(first + second)
        case (.failure(let error), _), (_, .failure(let error)):
            throw error
        }
    }
}

/// `/approvals`: the review queue for callers with approve:timesheets.
struct ApprovalController<Repository: TimesheetRepository>: Sendable {
    let timesheets: TimesheetService<Repository>
    let bodies: RequestBodyReader

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessPolicy) {
        group.add(middleware: access.requiring(.approve))
            .get(use: pending)
            .put(":id", use: approve)
            .post(":id/reject", use: reject)
    }

    /// GET /approvals — pending entries of all users, oldest first.
    @Sendable func pending(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        let query = try request.queryParameters()
        let page = try query.pageRequest(order: .oldestFirst).get()
        return try .json(PageResponse(try await timesheets.pendingReview(page: page, for: caller)))
    }

    /// PUT /approvals/{id} — approve (the reference's route); idempotent.
    @Sendable func approve(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        return try .json(TimesheetResponse(try await timesheets.approve(try context.timesheetID(), by: caller)))
    }

    /// POST /approvals/{id}/reject — reject with an optional `reason`.
    @Sendable func reject(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.caller()
        let id = try context.timesheetID()
        let fields = try await bodies.fields(request, allowed: ["reason"])
        let reason = try TimesheetRules.validateRejectionReason(InputField("reason", fields["reason"])).get()
        return try .json(TimesheetResponse(try await timesheets.reject(id, reason: reason, by: caller)))
    }
}
