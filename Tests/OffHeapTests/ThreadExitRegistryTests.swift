@testable import OffHeap
import Synchronization
import Testing

@Suite("ThreadExitRegistry")
struct ThreadExitRegistryTests {
    /// One key's destructor hands back every subsystem's per-thread state. Rounds of 4
    /// threads each take a Hyaline sticky slot (the domain has exactly 4), leave slots in a
    /// ShardedFreeList magazine (the pool's only headroom is one magazine, for this thread),
    /// and keep heap blocks live past their exit. After each round: every slot of the pool
    /// can be allocated by this thread (the magazines were flushed), the next round finds
    /// sticky slots (they were given back), and the heap's pages of the exited threads are
    /// abandoned with their blocks intact, then freed from here.
    @Test func exitHandsEveryParticipantsStateBack() throws {
        let threads = 4, perThread = 32
        let domain = try HyalineDomain.withRuntimeRow(.init(maximumReaders: threads))
        // One magazine of headroom: this thread's own magazine keeps up to `perThread` of the
        // slots it allocates and frees below; the workers' share is always in the global list
        // or in the magazines of threads that exited (flushed by their teardown, or not).
        let capacity = (threads + 1) * perThread
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 32, capacity: capacity, magazineSize: perThread))
        let heap = try SizeClassHeap()
        let blocks = try VirtualMemory.reserve(byteCount: threads * perThread * 8, committed: true)
        defer { try? VirtualMemory.release(blocks) }
        @Sendable func block(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
            (blocks.base + index * 8).assumingMemoryBound(to: Atomic<UInt>.self)
        }
        for index in 0..<(threads * perThread) { block(index).initialize(to: Atomic(0)) }
        let failures = Atomic<Int>(0)
        for round in 0..<6 {
            try PlatformThread.run(count: threads) { worker in
                do throws(OffHeapError) {
                    let guardian = try domain.enter()
                    _ = guardian
                    // Allocate a share of the pool and free it on this thread: it stays in
                    // this thread's magazine until the thread exits.
                    var slots: [UnsafeMutableRawPointer] = []
                    for _ in 0..<perThread { slots.append(try pool.allocate()) }
                    for slot in slots { try pool.deallocate(slot) }
                    for index in 0..<perThread {
                        let pointer = try heap.allocate(byteCount: 48)
                        pointer.storeBytes(of: UInt64(round << 16 | worker << 8 | index), as: UInt64.self)
                        block(worker * perThread + index).pointee.store(
                            UInt(bitPattern: pointer), ordering: .releasing)
                    }
                } catch {
                    print("exitHandsEveryParticipantsStateBack: round \(round) worker \(worker): \(error)")
                    failures.add(1, ordering: .relaxed)
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0, "round \(round): a thread failed")
            // Every slot is back in the pool's global list.
            var slots: [UnsafeMutableRawPointer] = []
            for _ in 0..<capacity { slots.append(try pool.allocate()) }
            #expect(Set(slots).count == capacity)
            for slot in slots { try pool.deallocate(slot) }
            // The exited threads' pages are abandoned; their blocks are intact and free here.
            #expect(heap.statistics.abandonedPages > 0, "round \(round)")
            for worker in 0..<threads {
                for index in 0..<perThread {
                    let raw = block(worker * perThread + index).pointee.exchange(0, ordering: .acquiring)
                    let pointer = try #require(UnsafeMutableRawPointer(bitPattern: raw))
                    #expect(pointer.load(as: UInt64.self) == UInt64(round << 16 | worker << 8 | index))
                    try heap.deallocate(pointer)
                }
            }
        }
    }
}
