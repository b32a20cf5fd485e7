import Foundation
import NIOCore
import Synchronization
import Testing

@testable import TimesheetAPI

/// The log's writer thread: every line arrives whole and in order, a destination that takes nothing never holds up
/// the code that logs, and what could not wait is counted and reported.
@Suite(.timeLimit(.minutes(1))) struct LogLineWriterTests {
    /// A pipe whose far end is read from the start, on a thread of its own: the writer's thread waits for the reader,
    /// and tasks cannot be relied on to read while a test's `finish()` holds one of the few cooperative threads.
    final class Destination: Sendable {
        let pipe = Pipe()
        private let received = Mutex<Data>(Data())
        private let readToEnd = DispatchSemaphore(value: 0)
        var descriptor: CInt { pipe.fileHandleForWriting.fileDescriptor }

        func startReading() {
            let reading = pipe.fileHandleForReading
            Thread { [self] in
                let data = reading.readDataToEndOfFile()
                received.withLock { $0 = data }
                readToEnd.signal()
            }.start()
        }

        /// Hands `count` copies of `line` to `writer` from another thread and tells whether that returned within ten
        /// seconds. If it did not (the writer waited for the pipe), the pipe is read, so that the test ends.
        func handOver(_ count: Int, copiesOf line: String, to writer: LogLineWriter) -> Bool {
            let handedOver = DispatchSemaphore(value: 0)
            Thread {
                for _ in 0..<count { writer.write(ByteBuffer(string: line)) }
                handedOver.signal()
            }.start()
            guard handedOver.wait(timeout: .now() + .seconds(10)) == .success else {
                startReading()
                handedOver.wait()
                return false
            }
            return true
        }

        /// Closes the writing end and returns everything read, as lines without their newlines.
        func lines() throws -> [String] {
            try pipe.fileHandleForWriting.close()
            readToEnd.wait()
            return received.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init)
        }
    }

    static func writer(to destination: Destination, capacity: Int = 4 << 20) -> LogLineWriter {
        LogLineWriter(descriptor: destination.descriptor, capacity: capacity) { dropped in
            ByteBuffer(string: "notice dropped=\(dropped)\n")
        }
    }

    @Test func linesFromManyThreadsArriveWholeAndInOrder() throws {
        let destination = Destination()
        destination.startReading()
        let writer = Self.writer(to: destination)
        // Four threads at once, 2,000 lines each: 200 KB, more than the pipe holds, so the writer waits for the reader.
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<2_000 {
                writer.write(
                    ByteBuffer(string: "thread=\(thread) line=\(index) " + String(repeating: "x", count: 20) + "\n")
                )
            }
        }
        #expect(writer.finish())
        let lines = try destination.lines()
        #expect(lines.count == 8_000)
        #expect(writer.droppedLines == 0)
        var next = [Int](repeating: 0, count: 4)
        for line in lines {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[2] == String(repeating: "x", count: 20),
                let thread = Int(fields[0].dropFirst("thread=".count)),
                let index = Int(fields[1].dropFirst("line=".count)), (0..<4).contains(thread)
            else {
                Issue.record("not a whole line: \(line)")
                continue
            }
            #expect(index == next[thread], "thread \(thread)'s lines out of order")
            next[thread] = index + 1
        }
    }

    @Test func aDestinationThatTakesNothingNeverHoldsUpTheCaller() throws {
        let destination = Destination()
        let writer = Self.writer(to: destination, capacity: 64 << 10)
        // Nobody reads yet: 2 MB of lines against a 64 KiB pipe and 64 KiB of capacity. With a write(2) per line on
        // the caller's thread, the loop would stop at the pipe's first 64 KiB until the reader starts.
        let line = String(repeating: "y", count: 99) + "\n"
        let returned = destination.handOver(20_000, copiesOf: line, to: writer)
        #expect(returned, "the caller waited for a destination that takes nothing")
        let dropped = writer.droppedLines
        #expect(dropped > 15_000, "at most the pipe, a batch and the capacity can hold lines: \(dropped) dropped")

        if returned { destination.startReading() }
        #expect(writer.finish())
        let lines = try destination.lines()
        let delivered = lines.filter { $0 == String(line.dropLast()) }.count
        let notices = lines.compactMap { $0.hasPrefix("notice dropped=") ? Int($0.dropFirst(15)) : nil }
        #expect(delivered + dropped == 20_000)
        #expect(!notices.isEmpty && notices.reduce(0, +) == dropped, "\(notices) against \(dropped) dropped")
        #expect(delivered + notices.count == lines.count, "only whole lines and notices arrive")
    }

    @Test func finishGivesUpOnADestinationThatTakesNothingAndLinesAfterItAreWrittenAtOnce() throws {
        let destination = Destination()
        let writer = Self.writer(to: destination, capacity: 256 << 10)
        let returned = destination.handOver(2_000, copiesOf: String(repeating: "z", count: 99) + "\n", to: writer)
        try #require(returned, "the caller waited for a destination that takes nothing")
        let started = ContinuousClock.now
        #expect(writer.finish(timeout: .milliseconds(200)) == false, "the pipe is full and nobody reads it")
        #expect(ContinuousClock.now - started < .seconds(5))

        // Once read, the writer finishes its last batch; a line handed over after that is written at once.
        destination.startReading()
        #expect(writer.finish(timeout: .seconds(30)))
        writer.write(ByteBuffer(string: "after finishing\n"))
        let lines = try destination.lines()
        #expect(lines.count == 2_001 && lines.last == "after finishing", "\(lines.count) lines")
    }
}
