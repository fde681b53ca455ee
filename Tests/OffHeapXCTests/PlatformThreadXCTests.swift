// XCTest (valgrind-runnable) checks of PlatformThread: real threads writing disjoint parts of
// an off-heap region, validated from the main thread after join (join publishes the writes).
import OffHeap
import XCTest

final class PlatformThreadXCTests: XCTestCase {
    func testEightThreadsWriteDisjointSlotsVisibleAfterJoin() throws {
        let threads = 8
        let perThread = 512
        let region = try VirtualMemory.reserve(
            byteCount: threads * perThread * MemoryLayout<UInt64>.stride, committed: true)
        defer { try? VirtualMemory.release(region) }
        let address = UInt(bitPattern: region.base)
        try PlatformThread.run(count: threads) { index in
            let base = UnsafeMutablePointer<UInt64>(bitPattern: address)!
            for slot in 0..<perThread {
                base[index * perThread + slot] = UInt64(index) << 32 | UInt64(slot)
            }
        }
        let base = region.base.assumingMemoryBound(to: UInt64.self)
        for index in 0..<threads {
            for slot in 0..<perThread {
                XCTAssertEqual(base[index * perThread + slot], UInt64(index) << 32 | UInt64(slot))
            }
        }
    }

    func testIndividualThreadsJoinAndClockAdvances() throws {
        let region = try VirtualMemory.reserve(byteCount: 4096, committed: true)
        defer { try? VirtualMemory.release(region) }
        let address = UInt(bitPattern: region.base)
        let start = MonotonicClock.nanoseconds
        let workers = try (0..<4).map { index in
            try PlatformThread {
                PlatformThread.sleep(nanoseconds: 1_000_000)
                UnsafeMutablePointer<UInt64>(bitPattern: address)![index] = UInt64(index + 1)
            }
        }
        for worker in workers { worker.join() }
        XCTAssertGreaterThanOrEqual(MonotonicClock.nanoseconds - start, 1_000_000)
        let words = region.base.assumingMemoryBound(to: UInt64.self)
        XCTAssertEqual((0..<4).map { words[$0] }, [1, 2, 3, 4])
    }
}
