/// What a caller may do. The server maps token scopes or permissions to these.
public enum Permission: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case read
    case create
    case update
    case delete
    case approve
    case batchUpload
    /// Hours reports over every user's entries.
    case readReports

    public var description: String { rawValue }
}

/// Who is asking: the user id the token names, and the permissions it grants.
///
/// This is the domain's "actor"; it is named `Caller` so it does not shadow Swift's `Actor` protocol.
public struct Caller: Hashable, Sendable {
    public var userID: String
    public var permissions: Set<Permission>

    public init(userID: String, permissions: Set<Permission>) {
        self.userID = userID
        self.permissions = permissions
    }

    public func require(_ permission: Permission) throws(TimesheetError) {
        guard permissions.contains(permission) else { throw .forbidden(missing: permission) }
    }
}
