import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TCP ports on 127.0.0.1 that are free now, for a server this process is about to start (a cluster, a child
/// process in a test).
///
/// Ports are chosen below the kernel's ephemeral range (`ip_local_port_range`): a port the kernel hands out for
/// `bind(0)` is one it also hands out as the source port of outgoing connections, and with many tests connecting at
/// once one of them took such a port between its release and the server's bind ("already in use"). No port is
/// handed out twice by one process.
public enum LoopbackPorts {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port that a listening socket could bind on 127.0.0.1 a moment ago, and that this process never handed out.
    public static func free() throws -> Int {
        let candidates = 10_000..<max(10_001, ephemeralRange().lowerBound)
        for _ in 0..<200 {
            let port = Int.random(in: candidates)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
        throw LocalPostgresCluster.Failure("no free port on 127.0.0.1 in \(candidates) after 200 tries")
    }

    /// The kernel's range of source ports for outgoing connections; Linux's default when it cannot be read.
    static func ephemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return 32_768...60_999 }
        return bounds[0]...bounds[1]
    }

    /// Whether a listening socket could bind `port` on 127.0.0.1 now (as a server does, with `SO_REUSEADDR`).
    static func canBind(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var reuse: CInt = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
