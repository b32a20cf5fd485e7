import Foundation

/// A write a client may send more than once under one key (the API's `Idempotency-Key`).
///
/// The first request under a key is applied and its answer recorded in the same atomic step (one transaction in
/// PostgreSQL), so a crash can neither keep the write without its answer nor the answer without its write. A repeat
/// with the same operation and digest gets the recorded answer and writes nothing; a repeat with anything else is
/// refused with ``TimesheetError/idempotencyKeyReused(key:)``. A repeat that arrives while the first is still being
/// written waits for it. Keys expire after ``lifetime`` and are purged when they are next used or met.
public struct IdempotentRequest: Sendable {
    /// How long a key and its answer are kept: 24 hours.
    public static let defaultLifetime: TimeInterval = 24 * 60 * 60

    /// Whose key it is (the caller's id): keys of different callers never meet.
    public var scope: String
    /// The key the client chose.
    public var key: String
    /// What was asked, such as the route; the same key on another operation is a reuse.
    public var operation: String
    /// A digest of how it was asked (the API's SHA-256 of the body); the same key with another digest is a reuse.
    public var digest: [UInt8]
    public var lifetime: TimeInterval
    /// The answer to record, made from the stored entries inside the write's atomic step; a throw writes nothing.
    public var answer: @Sendable ([Timesheet]) throws -> RecordedAnswer

    public init(
        scope: String,
        key: String,
        operation: String,
        digest: [UInt8],
        lifetime: TimeInterval = IdempotentRequest.defaultLifetime,
        answer: @escaping @Sendable ([Timesheet]) throws -> RecordedAnswer
    ) {
        self.scope = scope
        self.key = key
        self.operation = operation
        self.digest = digest
        self.lifetime = lifetime
        self.answer = answer
    }
}

/// The answer a write under an idempotency key gave, kept to be given again. Its content is the API's, opaque here.
public struct RecordedAnswer: Hashable, Sendable {
    public var status: Int
    public var location: String?
    public var body: [UInt8]

    public init(status: Int, location: String? = nil, body: [UInt8]) {
        self.status = status
        self.location = location
        self.body = body
    }
}

/// What an idempotent write did: wrote entries and recorded their answer, or found a recorded answer and wrote nothing.
public enum IdempotentOutcome: Hashable, Sendable {
    case written([Timesheet], RecordedAnswer)
    case replayed(RecordedAnswer)

    public var answer: RecordedAnswer {
        switch self {
        case .written(_, let answer), .replayed(let answer): answer
        }
    }
}
