@testable import OffHeap
import Synchronization
import Testing

/// Each way of running out has its own error case carrying its limit (it used to be one
/// `.exhausted` for five different situations). Most allocator cases are asserted with
/// their payload in the allocators' own tests; these are the ones that need a setup.
@Suite("Exhaustion errors")
struct ExhaustionErrorTests {
    /// The 65th live ShardedFreeList, on a private registry (the process-wide one is shared
    /// with tests running in parallel).
    @Test func sixtyFifthLivePoolIsTooManyLivePools() throws {
        let rows = try VirtualMemory.reserve(
            byteCount: ShardedFreeList.maximumLiveInstances * ShardedRegistry.rowBytes,
            committed: true)
        defer { try? VirtualMemory.release(rows) }
        let registry = ShardedRegistry(rows: rows.base)
        let list = try FreeList(configuration: .init(slotSize: 8, capacity: 1))
        for _ in 0..<ShardedFreeList.maximumLiveInstances { _ = try registry.claim(list: list) }
        #expect(throws: OffHeapError.tooManyLivePools(limit: 64)) {
            _ = try registry.claim(list: list)
        }
    }

    /// Slots parked in another live thread's magazine: not `.capacityExhausted` (the pool
    /// is not full), but `.slotsCachedByOtherThreads` with how many; once that thread
    /// exits, they come back.
    @Test func concurrentSlotsCachedByOtherThreadsAreNamed() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: 64, magazineSize: 32))
        let phase = Atomic<Int>(0)
        let holder = try PlatformThread {
            // Refills take 16 slots at a time; free the one used: 16 stay in the magazine.
            if let slot = try? pool.allocate() { try? pool.deallocate(slot) }
            phase.store(1, ordering: .releasing)
            while phase.load(ordering: .acquiring) != 2 { PlatformThread.yield() }
        }
        while phase.load(ordering: .acquiring) != 1 { PlatformThread.yield() }
        var held: [UnsafeMutableRawPointer] = []
        var failure: OffHeapError?
        while failure == nil {
            do throws(OffHeapError) { held.append(try pool.allocate()) } catch { failure = error }
        }
        #expect(held.count == 48)
        #expect(failure == .slotsCachedByOtherThreads(cached: 16, capacity: 64))
        #expect(failure?.isExhaustion == true)
        phase.store(2, ordering: .releasing)
        holder.join()
        // The exited thread's magazine went back to the shared list.
        while let slot = try? pool.allocate() { held.append(slot) }
        #expect(held.count == 64)
        #expect(throws: OffHeapError.capacityExhausted(capacity: 64)) { _ = try pool.allocate() }
        for slot in held { try pool.deallocate(slot) }
    }

    /// Retire records run out while a reader pins every batch.
    @Test func retireRecordsExhaustedCarriesTheCapacity() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 64)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain(
            configuration:
                .init(maximumReaders: 2, recordCapacity: 8, batchThreshold: 1, stripes: 1))
        let id = try domain.register(reclaimer)
        var failure: OffHeapError?
        var retired = 0
        let reader = try domain.enter(retaining: true)
        _ = reader.slotIndex
        do {
            let writer = try domain.enter()
            while failure == nil && retired < 64 {
                let node = try pool.allocate()
                do throws(OffHeapError) {
                    try writer.retire(node, birthEra: 0, reclaimer: id)
                    retired += 1
                } catch {
                    failure = error
                    try pool.deallocate(node)
                }
            }
        }
        #expect(failure == .retireRecordsExhausted(recordCapacity: 8))
        reader.leave()
        #expect(OffHeapError.retireRecordsExhausted(recordCapacity: 8).isExhaustion)
        #expect(!OffHeapError.doubleFree.isExhaustion)
        #expect(OffHeapError.Kind.allCases.filter(\.isExhaustion).count == 7)
    }
}
