import AuthKit  // Duration.timeInterval
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Writes finished log lines to a file descriptor from a thread of its own, so that no event loop waits for the log.
///
/// A `write(2)` on an event loop stops the loop for as long as the kernel takes: a pipe whose reader lags blocks it,
/// and a file on a disk busy with writeback throttles it. With the lines written that way, a server whose standard
/// error went to a pipe nobody read answered 55 requests a second once the pipe was full; written from here, it
/// answered 40,000 (`benchmarks/results/README.md`, eighth session). Here a line is copied into a bounded buffer under
/// a lock, and the writer thread writes what has gathered in one `write(2)`.
///
/// - Lines reach the descriptor within about `linger` (5 ms) of being logged, in the order they were handed over.
/// - When `capacity` bytes are waiting, further lines are dropped and counted rather than waited for; once the
///   destination has taken the waiting lines, a notice says how many were dropped.
/// - ``finish(timeout:)`` writes what is waiting and stops the thread; lines handed over after it are written at once
///   on the caller's thread. A command calls it before it exits.
package final class LogLineWriter: @unchecked Sendable {
    // @unchecked: the mutable state below is only touched with `lock` held; `spare` only on the writer's thread.
    /// Holds the state; its value says whether the writer has something to do (lines waiting, or a finish).
    private let lock = ConditionLock(value: false)
    private var waiting: ByteBuffer
    private var droppedSinceLastBatch = 0
    private var droppedInTotal = 0
    private var isFinishing = false
    private var isFinished = false
    /// The writer thread's batch: swapped with `waiting`, so neither buffer is allocated again once grown.
    private var spare: ByteBuffer
    /// True once the writer thread has written its last batch.
    private let stopped = ConditionLock(value: false)

    private let descriptor: CInt
    private let capacity: Int
    private let linger: Duration
    private let dropNotice: @Sendable (Int) -> ByteBuffer

    /// - Parameters:
    ///   - descriptor: Where the lines go; standard error unless a test passes a pipe.
    ///   - capacity: The most bytes that may wait for the writer; 4 MiB is about 16,000 access lines.
    ///   - linger: How long the writer lets lines gather after a batch, so that a busy server hands over many lines
    ///     per wake-up instead of waking the thread for each.
    ///   - dropNotice: The line that reports a number of dropped lines, in the log's own format.
    package init(
        descriptor: CInt = STDERR_FILENO,
        capacity: Int = 4 << 20,
        linger: Duration = .milliseconds(5),
        dropNotice: @escaping @Sendable (Int) -> ByteBuffer
    ) {
        self.descriptor = descriptor
        self.capacity = capacity
        self.linger = linger
        self.dropNotice = dropNotice
        let allocator = ByteBufferAllocator()
        self.waiting = allocator.buffer(capacity: 64 << 10)
        self.spare = allocator.buffer(capacity: 64 << 10)
        let thread = Thread { [self] in writeUntilFinished() }
        thread.name = "log-writer"
        thread.start()
    }

    /// Hands a finished line over to the writer; never waits for the descriptor before ``finish(timeout:)``.
    package func write(_ line: ByteBuffer) {
        lock.lock()
        if isFinished {
            // The writer has stopped: write at once, still in order with the lines before (its last batch was
            // written with the lock held).
            Self.writeAll(line, to: descriptor, waitingIfFull: false)
            lock.unlock()
            return
        }
        guard waiting.readableBytes + line.readableBytes <= capacity else {
            droppedSinceLastBatch += 1
            droppedInTotal += 1
            lock.unlock()
            return
        }
        var line = line
        waiting.writeBuffer(&line)
        lock.unlock(withValue: true)
    }

    /// The lines dropped so far because the destination did not keep up.
    package var droppedLines: Int {
        lock.lock()
        defer { lock.unlock() }
        return droppedInTotal
    }

    /// Writes the waiting lines and stops the writer thread. Returns false if that took longer than `timeout` (the
    /// destination does not take lines), leaving the thread to finish if it ever can.
    @discardableResult
    package func finish(timeout: Duration = .seconds(2)) -> Bool {
        lock.lock()
        isFinishing = true
        lock.unlock(withValue: true)
        guard stopped.lock(whenValue: true, timeoutSeconds: timeout.timeInterval) else { return false }
        stopped.unlock()
        return true
    }

    private func writeUntilFinished() {
        while true {
            lock.lock(whenValue: true)
            if isFinishing {
                // The last batch, written with the lock held, so that lines handed over from now on follow it.
                let dropped = droppedSinceLastBatch
                droppedSinceLastBatch = 0
                writeBatch(waiting, dropped: dropped)
                waiting.clear()
                isFinished = true
                lock.unlock(withValue: false)
                stopped.lock()
                stopped.unlock(withValue: true)
                return
            }
            swap(&waiting, &spare)
            let dropped = droppedSinceLastBatch
            droppedSinceLastBatch = 0
            lock.unlock(withValue: false)

            writeBatch(spare, dropped: dropped)
            spare.clear()
            Thread.sleep(forTimeInterval: linger.timeInterval)
        }
    }

    /// The batch, then the notice of the lines dropped while it waited (they were refused after it filled up).
    private func writeBatch(_ batch: ByteBuffer, dropped: Int) {
        Self.writeAll(batch, to: descriptor, waitingIfFull: true)
        if dropped > 0 { Self.writeAll(dropNotice(dropped), to: descriptor, waitingIfFull: true) }
    }

    /// Writes all of `bytes`, retrying after an interruption or a partial write. A non-blocking descriptor that is
    /// full is waited for if `waitingIfFull` (on the writer's own thread); otherwise, and on any other error (the
    /// descriptor is closed), the rest is dropped: a log line has no one to report its failure to.
    package static func writeAll(_ bytes: ByteBuffer, to descriptor: CInt, waitingIfFull: Bool) {
        bytes.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else if written < 0, errno == EAGAIN || errno == EWOULDBLOCK, waitingIfFull {
                    var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&writable, 1, 1_000)
                } else {
                    return
                }
            }
        }
    }
}
