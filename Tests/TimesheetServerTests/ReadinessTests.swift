import AuthKitTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import TimesheetAPI

@Suite struct ReadinessTests {
    /// With the identity provider down from the start, an orchestrator probing readiness must not turn every probe
    /// into a key fetch, and the public answer must not name the provider's URL or host.
    @Test func probesStayWithinTheJWKSRateLimitAndNameNoHost() async throws {
        try await APIHarness.run { api, client in
            api.server.setFailureMode(.unavailable)
            for _ in 0..<60 {
                try await client.execute(uri: "/health/ready", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(!response.text.contains("127.0.0.1") && !response.text.contains("http"), "\(response.text)")
                }
            }
            #expect(api.server.jwksRequestCount + api.server.discoveryRequestCount <= 10)
            #expect(api.server.jwksRequestCount <= 5)
            api.server.setFailureMode(.none)
        }
    }

    /// The check is bounded by the store's deadline even when the database call ignores cancellation, as a
    /// PostgresNIO query on a connection that closed in the same moment does.
    @Test(.timeLimit(.minutes(1))) func theDatabaseCheckAnswersAtItsDeadlineWhenThePingHangs() async throws {
        let check = DatabaseCheck(timeout: .milliseconds(300)) {
            // Ends after 20 s whatever happens: it ignores cancellation.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + 20) { continuation.resume() }
            }
        }
        let started = ContinuousClock.now
        let problem = await check.problem()
        #expect(problem == "PostgreSQL is not answering")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(await DatabaseCheck(timeout: .seconds(1)) {}.problem() == nil)
    }
}
