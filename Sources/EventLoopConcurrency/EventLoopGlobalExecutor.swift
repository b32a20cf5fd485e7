import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs Swift concurrency's global jobs on NIO's event loop threads, as jobs of the generic executor.
///
/// Why not `NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`: NIO runs each
/// global job with the event loop as its *serial* executor (`runSynchronously(on: loop.asUnownedSerialExecutor())`).
/// To the runtime the task is then isolated to that loop, so every later hop to the generic executor (which each
/// nonisolated async function makes) cannot continue inline: `swift_task_switch` gives the task back to the global
/// executor, which queues it on the loop again. Counted with uprobes in StoreBench's list phase (one deadline task
/// per query, so `swift_task_create` counts the queries): about 130 trips through the loop's queue per first-page
/// read with NIO's installer, about 4 with this one, and the client's CPU per query fell from 110 to 76 µs. Here a
/// job runs as Swift's own pool runs it (generic executor, no task executor), so those hops continue inline and a
/// task leaves the loop's queue only when it really suspends.
///
/// Jobs stay on the loop they are enqueued from (a task resumed by a channel's read continues on that channel's
/// loop); from any other thread they go to the loops in turn.
public enum EventLoopGlobalExecutor {
    /// Installs the hook for `MultiThreadedEventLoopGroup.singleton`; call it first thing on the main thread, once.
    /// - Returns: `false` when the runtime offers no hook or another executor was installed first (jobs then run
    ///   on Swift's own pool, which is slower but correct).
    @discardableResult
    public static func install() -> Bool {
        typealias EnqueueHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "swift_task_enqueueGlobal_hook") else { return false }
        let hookSlot = symbol.assumingMemoryBound(to: UnsafeRawPointer?.self)
        guard hookSlot.pointee == nil else { return false }
        _ = LoopExecutors.shared  // made before any job arrives
        // A thin function's address, as NIO's installer obtains it: a closure literal that captures nothing.
        withUnsafeTemporaryAllocation(of: EnqueueHook.self, capacity: 1) { hook in
            hook.baseAddress!.initialize(to: { job, _ in LoopExecutors.shared.enqueue(job) })
            hook.baseAddress!.withMemoryRebound(to: UnsafeRawPointer?.self, capacity: 1) { function in
                // One aligned pointer store, made before the program starts any task of its own.
                hookSlot.pointee = function.pointee
            }
        }
        return true
    }
}

/// The loops of the singleton group, and how a global job runs on one.
final class LoopExecutors: Sendable {
    static let shared = LoopExecutors(group: .singleton)

    private let loops: [any EventLoop]
    private let turn = Atomic<UInt>(0)
    /// The generic executor with no task executor: what Swift's own pool runs global jobs as.
    private let generic = globalConcurrentExecutor.asUnownedTaskExecutor()

    init(group: MultiThreadedEventLoopGroup) {
        loops = Array(group.makeIterator())
    }

    func enqueue(_ job: UnownedJob) {
        let generic = self.generic
        loopOfCurrentThread().execute { job.runSynchronously(on: generic) }
    }

    /// The loop this thread runs, else the next in turn.
    private func loopOfCurrentThread() -> any EventLoop {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop {
            for loop in loops where loop === current { return loop }
        }
        return loops[Int(turn.add(1, ordering: .relaxed).newValue % UInt(loops.count))]
    }
}
