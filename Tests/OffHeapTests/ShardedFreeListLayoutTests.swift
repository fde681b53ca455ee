@testable import OffHeap
import Synchronization
import Testing

/// The hot path's data layout: the spread checked-mode state bytes, the `tally` word
/// (`hits << 8 | count`) and the never-written sentinel record.
@Suite("ShardedFreeList layout")
struct ShardedFreeListLayoutTests {
    /// Slot `i`'s state byte is at `129 · i mod 2^b`: a permutation of the table, and
    /// neighbouring slots (what refills hand to different threads) on distinct cache-line
    /// pairs, so two threads cycling through neighbouring slots never write the same line.
    @Test(arguments: [1, 63, 64, 65, 300, 4096, 1 << 16])
    func checkedStateBytesOfNeighbouringSlotsLieOnDistinctCacheLines(capacity: Int) throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: capacity, magazineSize: 8))
        let tableBytes = Int(pool.stateMask) + 1
        #expect(tableBytes >= max(capacity, 64) && tableBytes < 2 * max(capacity, 64))
        var seen = Set<Int>()
        for index in 0..<capacity {
            let position = pool.statePosition(UInt32(index))
            #expect(position >= 0 && position < tableBytes)
            #expect(seen.insert(position).inserted)
        }
        // Any 32 neighbouring slots (up to the table's size / 129) use 32 distinct
        // 128-byte line pairs.
        let window = min(32, tableBytes / 129)
        if window > 1 {
            for start in Swift.stride(from: 0, through: capacity - window, by: 13) {
                let positions = (start..<(start + window)).map { pool.statePosition(UInt32($0)) }
                let pairs = Set(positions.map { $0 / 128 })
                #expect(pairs.count == window)
            }
        }
        // The bytes really live there: allocated slots read 1 at their spread position.
        let slots = try (0..<min(capacity, 40)).map { _ in try pool.allocate() }
        for slot in slots {
            let index = try pool.slotIndex(of: slot)
            #expect(pool.states![pool.statePosition(index)].load(ordering: .relaxed) == 1)
        }
        for slot in slots { try pool.deallocate(slot) }
        for slot in slots {
            let index = try pool.slotIndex(of: slot)
            #expect(pool.states![pool.statePosition(index)].load(ordering: .relaxed) == 0)
            #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(slot) }
        }
    }

    /// A full magazine of 128 (the largest) fits `tally`'s count field without reaching
    /// the hits field, and hits stay exact across refills.
    @Test func tallyHoldsAFullMagazineOf128AndExactHits() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: 1024, magazineSize: 128))
        var slots = try (0..<128).map { _ in try pool.allocate() }
        // Two refills of 64: 2 misses, 126 hits.
        var stats = pool.statistics
        #expect(stats.misses == 2 && stats.refills == 2 && stats.hits == 126)
        for slot in slots { try pool.deallocate(slot) }
        stats = pool.statistics
        #expect(stats.hits == 254 && stats.misses == 2 && stats.flushes == 0)
        #expect(stats.cachedSlots == 128 && stats.maximumThreadOccupancy == 128)
        let cache = pool.runtime.callingThreadRecordIfAny!.cache(pool.id)
        // Unfolded: 63 allocate hits since the second refill, then 128 deallocate hits.
        #expect(cache.count == 128 && cache.tally >> 8 == 191 && cache.hits == 254)
        // Emptying the full magazine again: 128 hits, no shared-list operation.
        let operations = stats.sharedListOperations
        slots = try (0..<128).map { _ in try pool.allocate() }
        stats = pool.statistics
        #expect(stats.hits == 382 && stats.misses == 2 && stats.cachedSlots == 0)
        #expect(stats.sharedListOperations == operations)
        #expect(Set(slots.map { UInt(bitPattern: $0) }).count == 128)
        // Refill (miss) folds the hits field; the total stays exact.
        let extra = try pool.allocate()
        stats = pool.statistics
        #expect(stats.hits == 382 && stats.misses == 3 && stats.refills == 3)
        #expect(cache.tally >> 8 == 0 && cache.hits == 382)
        for slot in slots + [extra] { try pool.deallocate(slot) }
        // 129 frees into a magazine of 63: 65 hits, one miss that flushes 64, 63 hits.
        stats = pool.statistics
        #expect(stats.hits == 382 + 128 && stats.misses == 4 && stats.flushes == 1)
        #expect(stats.hits + stats.misses == 257 + 257)
        try ShardedFreeListTests.drainAndRefill(pool)
    }

    /// Threads without a record read the sentinel record (offset 0), whose stamps are 0 and
    /// never match: their first operation takes the slow path, acquires a real record and
    /// never writes the sentinel. Fresh threads across pools must leave it all zero.
    @Test func concurrentFreshThreadsNeverWriteTheSentinelRecord() throws {
        let pools = try (0..<3).map { _ in
            try ShardedFreeList(
                configuration: .init(slotSize: 32, capacity: 2048, magazineSize: 16))
        }
        let runtime = pools[0].runtime
        let failures = Atomic<Int>(0)
        for _ in 0..<8 {
            try PlatformThread.run(count: 8) { thread in
                // A fresh thread (or one whose record was handed back) has no record.
                if runtime.callingThreadRecordIfAny != nil {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                do {
                    for round in 0..<50 {
                        let pool = pools[(thread + round) % pools.count]
                        let slot = try pool.allocate()
                        slot.storeBytes(of: UInt64(thread), as: UInt64.self)
                        if slot.load(as: UInt64.self) != UInt64(thread) {
                            failures.wrappingAdd(1, ordering: .relaxed)
                        }
                        try pool.deallocate(slot)
                    }
                } catch {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                if runtime.callingThreadRecordIfAny == nil {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let sentinel = runtime.record(at: 0).raw
        var nonZero = 0
        for offset in Swift.stride(from: 0, to: ShardedThreadRecord.stride, by: 8) {
            if sentinel.load(fromByteOffset: offset, as: UInt64.self) != 0 { nonZero += 1 }
        }
        #expect(nonZero == 0)
        for pool in pools {
            let stats = pool.statistics
            // 8 waves × 8 threads; each thread used each pool 16 or 17 times (×2 operations).
            #expect(stats.hits + stats.misses >= 8 * 8 * 16 * 2)
            try ShardedFreeListTests.drainAndRefill(pool)
        }
    }

    /// Large slots (stride ≥ 4 KiB) get 128 bytes of state table each, so every slot's byte
    /// has a line pair of its own, but for the few where `129 · i` wraps (at most two slots
    /// a pair): two threads that each churn their own slots, as rag's lanes do, never write
    /// one line. Slots under 32 bytes keep one byte each (the table is `2^⌈log2 capacity⌉`).
    @Test(arguments: [(6144, 2052), (4096, 300), (1024, 1000), (16, 4096)])
    func largeSlotsGetAStateLinePairEach(slotSize: Int, capacity: Int) throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: slotSize, capacity: capacity, magazineSize: 8))
        let tableBytes = Int(pool.stateMask) + 1
        let stride = Int(pool.stride)
        let spacing = min(128, max(1, 1 << (Int.bitWidth - 1 - (stride / 32).leadingZeroBitCount)))
        #expect(tableBytes >= capacity * spacing && tableBytes < 2 * max(capacity * spacing, 64))
        var perPair: [Int: Int] = [:]
        for index in 0..<capacity { perPair[pool.statePosition(UInt32(index)) / 128, default: 0] += 1 }
        let crowded = perPair.values.max() ?? 0
        if spacing == 128 {
            #expect(crowded <= 2, "at most two slots share a line pair")
        } else {
            #expect(crowded <= 128 / spacing + 2)
        }
    }
}
