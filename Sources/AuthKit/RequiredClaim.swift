/// A claim value a token must carry, checked after its signature with the other claims.
///
/// The equivalents of Auth0's `claimEquals` and `claimIncludes`: `.equals("email_verified", true)` refuses a token
/// whose `email_verified` is missing or not `true`; `.includes("roles", "manager")` accepts an array of strings or a
/// space-separated string that holds `manager`. A failure is 401 `invalid_token`, `Unexpected '<claim>' value`.
public enum RequiredClaim: Sendable, Hashable, CustomStringConvertible {
    /// The claim equals this JSON value exactly.
    case equals(String, JSONClaimValue)
    /// The claim is an array of strings, or a space-separated string, holding this value.
    case includes(String, String)

    /// The claim's name.
    public var name: String {
        switch self {
        case .equals(let name, _), .includes(let name, _): name
        }
    }

    /// `true` when `value` (the token's claim, `nil` when absent) satisfies the requirement.
    public func isSatisfied(by value: JSONClaimValue?) -> Bool {
        switch self {
        case .equals(_, let expected):
            return value == expected
        case .includes(_, let member):
            switch value {
            case .array(let values): return values.contains(.string(member))
            case .string(let text): return text.split(separator: " ").contains { $0 == member }
            default: return false
            }
        }
    }

    public var description: String {
        switch self {
        case .equals(let name, let value): "\(name)=\(value.jsonString)"
        case .includes(let name, let member): "\(name)~=\(member)"
        }
    }
}
