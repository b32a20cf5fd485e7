import Testing

@testable import LocalPostgres

@Suite struct LoopbackPortsTests {
    /// Ports come from below the ephemeral range, can be bound, and are never handed out twice.
    @Test func portsAreFreeDistinctAndBelowTheEphemeralRange() throws {
        let ports = try (0..<50).map { _ in try LoopbackPorts.free() }
        #expect(Set(ports).count == ports.count)
        let ephemeral = LoopbackPorts.ephemeralRange()
        for port in ports {
            #expect(port >= 10_000 && port < ephemeral.lowerBound, "\(port)")
            #expect(LoopbackPorts.canBind(port), "\(port)")
        }
    }
}
