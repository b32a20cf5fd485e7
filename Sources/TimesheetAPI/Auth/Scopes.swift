import TimesheetDomain

/// The OAuth scopes (Auth0 permissions) of this API and the domain permissions they grant.
package enum Scopes {
    static let byPermission: [Permission: String] = [
        .read: "read:timesheets",
        .create: "create:timesheets",
        .update: "update:timesheets",
        .delete: "delete:timesheets",
        .approve: "approve:timesheets",
        .batchUpload: "batch:upload",
        .readReports: "read:reports",
    ]

    package static func scope(for permission: Permission) -> String { byPermission[permission]! }

    /// The scope of `/api/private-scoped`, as Auth0's quickstart APIs name it (no domain permission: it guards a
    /// message, not entries).
    package static let readMessages = "read:messages"

    /// The scopes of a person working on their own entries: read, create, update and delete.
    package static let ownEntries: [String] = [Permission.read, .create, .update, .delete].map(scope(for:))

    /// The permissions a token's scopes grant; unknown scopes grant nothing.
    static func permissions(granting scopes: Set<String>) -> Set<Permission> {
        Set(byPermission.compactMap { permission, scope in scopes.contains(scope) ? permission : nil })
    }
}
