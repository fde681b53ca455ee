// XCTest (valgrind-runnable) checks of the allocators: valgrind cannot run Swift Testing, so
// the memcheck cell runs these. Each test hands blocks between real threads, validates their
// contents from another thread, and releases everything, so a leak, an uninitialised read or
// an access to unmapped memory in allocator code shows up as a memcheck error.
import OffHeap
import Synchronization
import XCTest

final class AllocatorXCTests: XCTestCase {
    /// Every slot is written by one thread and verified and freed by its neighbour.
    private func crossThreadRoundTrip(
        _ pool: some FixedSizeAllocator, threads: Int = 4, perThread: Int = 256
    ) throws {
        let published = UnsafeMutablePointer<Atomic<UInt>>.allocate(capacity: threads * perThread)
        defer { published.deallocate() }
        for index in 0..<(threads * perThread) { (published + index).initialize(to: Atomic(0)) }
        let table = UInt(bitPattern: published)
        let failures = Atomic<Int>(0)
        try PlatformThread.run(count: threads) { thread in
            let cells = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: table)!
            for slot in 0..<perThread {
                do throws(OffHeapError) {
                    let p = try pool.allocate()
                    p.storeBytes(of: UInt64(thread << 32 | slot), as: UInt64.self)
                    cells[thread * perThread + slot].store(UInt(bitPattern: p), ordering: .releasing)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
            let neighbour = (thread + 1) % threads
            for slot in 0..<perThread {
                var address: UInt = 0
                while address == 0 {
                    address = cells[neighbour * perThread + slot].load(ordering: .acquiring)
                    // valgrind runs one thread at a time: never spin without yielding.
                    if address == 0 { PlatformThread.yield() }
                }
                let p = UnsafeMutableRawPointer(bitPattern: address)!
                if p.load(as: UInt64.self) != UInt64(neighbour << 32 | slot) {
                    failures.add(1, ordering: .relaxed)
                }
                do throws(OffHeapError) { try pool.deallocate(p) } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
    }

    func testFreeListCrossThreadRoundTripAndDoubleFree() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, capacity: 4096))
        try crossThreadRoundTrip(pool)
        XCTAssertEqual(pool.statistics.inUse, 0)
        let p = try pool.allocate()
        try pool.deallocate(p)
        XCTAssertThrowsError(try pool.deallocate(p)) { error in
            XCTAssertEqual(error as? OffHeapError, .doubleFree)
        }
    }

    func testShardedFreeListCrossThreadRoundTrip() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 32, capacity: 8192, magazineSize: 16))
        try crossThreadRoundTrip(pool)
    }

    func testSizeClassHeapCrossThreadFreesAndTrim() throws {
        let heap = try SizeClassHeap()
        let sizes = [8, 24, 100, 512, 3000, 40_000]
        let blocks = try sizes.map { size in
            let p = try heap.allocate(byteCount: size, alignment: 8)
            p.initializeMemory(as: UInt8.self, repeating: UInt8(size & 0xFF), count: size)
            return (UInt(bitPattern: p), size)
        }
        let failures = Atomic<Int>(0)
        try PlatformThread.run(count: 2) { thread in
            for (index, (address, size)) in blocks.enumerated() where index % 2 == thread {
                let p = UnsafeMutableRawPointer(bitPattern: address)!
                let bytes = p.assumingMemoryBound(to: UInt8.self)
                if bytes[0] != UInt8(size & 0xFF) || bytes[size - 1] != UInt8(size & 0xFF) {
                    failures.add(1, ordering: .relaxed)
                }
                do throws(OffHeapError) { try heap.deallocate(p) } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
        heap.trim()
        let foreign = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { foreign.deallocate() }
        XCTAssertThrowsError(try heap.deallocate(foreign))
    }

    func testArenaAndSlabPoolResetKeepMappings() throws {
        let arena = try Arena(capacity: 1 << 20)
        let first = try arena.allocate(byteCount: 64, alignment: 16)
        try arena.reset()
        let again = try arena.allocate(byteCount: 64, alignment: 16)
        XCTAssertEqual(first, again)

        let pool = try SlabPool(slabSize: 64 << 10, maximumSlabs: 4, maximumLargeAllocations: 8)
        let small = try pool.allocate(byteCount: 100, alignment: 16)
        let large = try pool.allocate(byteCount: 48 << 10, alignment: 16)
        large.storeBytes(of: 7, as: UInt64.self)
        try pool.deallocate(large)
        try pool.reset(decommit: true)
        XCTAssertEqual(try pool.allocate(byteCount: 100, alignment: 16), small)
    }
}
