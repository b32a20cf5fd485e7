import Hummingbird

/// `/api/public`, `/api/private` and `/api/private-scoped`: the open, members-only and protected endpoints of Auth0's
/// quickstart APIs, so that a client built against a quickstart (or the seed's single-page app) can check its
/// login and its scopes against this service before it touches timesheets.
struct MessagesController: Sendable {
    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessPolicy) {
        group.get("public") { _, _ in
            try Response.json(Message("Hello from a public endpoint! You don't need to be authenticated to see this."))
        }
        group.group().add(middleware: access.anyValidToken).get("private") { _, _ in
            try Response.json(Message("Hello from a private endpoint! You need to be authenticated to see this."))
        }
        group.group().add(middleware: access.requiring(scope: Scopes.readMessages)).get("private-scoped") { _, _ in
            try Response.json(
                Message(
                    "Hello from a private endpoint! You need to be authenticated and have a scope of "
                        + "\(Scopes.readMessages) to see this."
                )
            )
        }
    }

    struct Message: Encodable {
        var message: String
        init(_ message: String) { self.message = message }
    }
}
