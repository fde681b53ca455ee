@testable import OffHeap
import Synchronization
import Testing

@Suite("ShardedFreeList concurrency")
struct ShardedFreeListConcurrencyTests {
    /// 8 threads allocate, stamp and publish slots; 8 other threads verify and free the
    /// slots of a *different* thread (remote frees go to the freeing thread's magazine).
    /// Afterwards all threads have exited and every slot can be allocated again.
    @Test func concurrentAllocateAndCrossThreadFreeAcross8Threads() throws {
        let threads = 8
        let perThread = 200
        // Headroom of one magazine per thread: slots cached by one thread are invisible to
        // another (see the capacity note on ShardedFreeList).
        let pool = try ShardedFreeList(
            configuration: .init(
                slotSize: 32, capacity: threads * (perThread + 16), magazineSize: 16))
        let words = ShardedTestWords(count: threads * perThread)
        let failures = Atomic<Int>(0)
        try PlatformThread.run(count: threads) { thread in
            for round in 0..<perThread {
                do {
                    let slot = try pool.allocate()
                    slot.storeBytes(of: UInt64(thread << 32 | round), as: UInt64.self)
                    slot.storeBytes(of: ~UInt64(thread << 32 | round), toByteOffset: 24, as: UInt64.self)
                    words[thread * perThread + round] = UInt(bitPattern: slot)
                    // Churn the magazine too: a short-lived pair on every round.
                    let scratch = try pool.allocate()
                    try pool.deallocate(scratch)
                } catch {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let distinct = Set((0..<threads * perThread).map { words[$0] })
        #expect(distinct.count == threads * perThread && !distinct.contains(0))
        try PlatformThread.run(count: threads) { thread in
            let owner = (thread + 3) % threads
            for round in 0..<perThread {
                guard let slot = UnsafeMutableRawPointer(bitPattern: words[owner * perThread + round])
                else { failures.wrappingAdd(1, ordering: .relaxed); continue }
                let tag = UInt64(owner << 32 | round)
                if slot.load(as: UInt64.self) != tag
                    || slot.load(fromByteOffset: 24, as: UInt64.self) != ~tag
                {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                do { try pool.deallocate(slot) } catch { failures.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let stats = pool.statistics
        #expect(stats.hits + stats.misses == UInt64(threads * perThread * 4))
        // Exited threads handed their magazines back: the whole capacity is allocatable here.
        try ShardedFreeListTests.drainAndRefill(pool)
    }

    /// 1,000 short-lived threads (in waves of 8) each allocate and free some slots and exit
    /// holding cached slots; the exit hook must return every one of them.
    @Test func concurrentThousandShortLivedThreadsReturnTheirMagazines() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: 256, magazineSize: 16))
        let failures = Atomic<Int>(0)
        let cachedAtExit = Atomic<Int>(0)
        for _ in 0..<125 {
            try PlatformThread.run(count: 8) { thread in
                do {
                    var held: [UnsafeMutableRawPointer] = []
                    for _ in 0..<(5 + thread) { held.append(try pool.allocate()) }
                    for slot in held { try pool.deallocate(slot) }
                    // Leave with a non-empty magazine.
                    let cache = pool.runtime.callingThreadRecordIfAny!.cache(pool.id)
                    if cache.count > 0 { cachedAtExit.wrappingAdd(1, ordering: .relaxed) }
                } catch {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(cachedAtExit.load(ordering: .relaxed) == 1_000)
        let stats = pool.statistics
        #expect(stats.threadCaches <= 1)  // only this thread may still hold one
        #expect(stats.flushes >= 1_000)
        try ShardedFreeListTests.drainAndRefill(pool)
    }

    /// Threads keep caches for pool A; A is destroyed; half the threads exit holding stale
    /// caches, the other half switch to pool B (which reuses A's id with a new generation).
    /// B must never see A's stale magazines, and nothing touches A's unmapped memory.
    @Test func concurrentDestroyWhileThreadsHoldCaches() throws {
        let threads = 8
        let perThread = 20
        final class Pools: @unchecked Sendable {
            // Written by the test thread only while workers wait at a gate (ordered by it).
            var first: ShardedFreeList?
            var second: ShardedFreeList?
        }
        let pools = Pools()
        pools.first = try ShardedFreeList(
            configuration: .init(slotSize: 64, capacity: 1024, magazineSize: 32))
        let gate = ShardedSpinGate()
        let words = ShardedTestWords(count: threads * perThread)
        let failures = Atomic<Int>(0)

        @Sendable func useFirst(_ pool: ShardedFreeList) throws(OffHeapError) {
            var held: [UnsafeMutableRawPointer] = []
            for _ in 0..<perThread { held.append(try pool.allocate()) }
            for slot in held { try pool.deallocate(slot) }
        }

        let workers = try (0..<threads).map { thread throws(OffHeapError) in
            try PlatformThread {
                do { try useFirst(pools.first!) } catch { failures.wrappingAdd(1, ordering: .relaxed) }
                gate.arrive()
                gate.wait(for: 1)
                if thread % 2 == 0 { return }  // exit holding a stale cache for A
                let pool = pools.second!
                for round in 0..<perThread {
                    do {
                        let slot = try pool.allocate()
                        slot.storeBytes(of: UInt64(thread << 32 | round), as: UInt64.self)
                        words[thread * perThread + round] = UInt(bitPattern: slot)
                    } catch { failures.wrappingAdd(1, ordering: .relaxed) }
                }
            }
        }
        gate.waitForArrivals(threads)
        #expect(isKnownUniquelyReferenced(&pools.first!))
        pools.first = nil  // deinit: unmaps A while every worker holds a cache for it
        let second = try ShardedFreeList(
            configuration: .init(slotSize: 64, capacity: 1024, magazineSize: 32))
        pools.second = second
        gate.open(1)
        for worker in workers { worker.join() }

        #expect(failures.load(ordering: .relaxed) == 0)
        var seen = Set<UInt>()
        for thread in stride(from: 1, to: threads, by: 2) {
            for round in 0..<perThread {
                let address = words[thread * perThread + round]
                let slot = try #require(UnsafeMutableRawPointer(bitPattern: address))
                #expect(seen.insert(address).inserted)
                // Every slot came from B, none from a stale magazine of A.
                _ = try second.slotIndex(of: slot)
                #expect(slot.load(as: UInt64.self) == UInt64(thread << 32 | round))
                try second.deallocate(slot)
            }
        }
        let stats = second.statistics
        #expect(stats.refills >= 4)
        try ShardedFreeListTests.drainAndRefill(second)
    }

    /// Threads without a cache record (more than `maximumThreadRecords` alive) go straight
    /// to the shared list; mixed with cached threads, no slot is lost or handed out twice.
    @Test func concurrentUncachedAndCachedThreadsShareSlots() throws {
        let threads = 8
        let perThread = 64
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: threads * (perThread + 8), magazineSize: 8))
        let words = ShardedTestWords(count: threads * perThread)
        let failures = Atomic<Int>(0)
        try PlatformThread.run(count: threads) { thread in
            let uncached = thread % 2 == 0
            for round in 0..<perThread {
                do throws(OffHeapError) {
                    let slot = uncached ? try pool.allocateUncached() : try pool.allocate()
                    slot.storeBytes(of: UInt64(thread << 32 | round), as: UInt64.self)
                    words[thread * perThread + round] = UInt(bitPattern: slot)
                } catch { failures.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(Set((0..<threads * perThread).map { words[$0] }).count == threads * perThread)
        try PlatformThread.run(count: threads) { thread in
            let owner = (thread + 1) % threads
            for round in 0..<perThread {
                let slot = UnsafeMutableRawPointer(bitPattern: words[owner * perThread + round])!
                if slot.load(as: UInt64.self) != UInt64(owner << 32 | round) {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                do throws(OffHeapError) {
                    if thread % 2 == 0 {
                        // Validation and the double-free check stay with the caller.
                        let index = try pool.slotIndex(of: slot)
                        pool.states![pool.statePosition(index)].store(0, ordering: .relaxed)
                        pool.deallocateUncached(index)
                    } else {
                        try pool.deallocate(slot)
                    }
                } catch { failures.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(pool.statistics.misses >= UInt64(threads / 2 * perThread * 2))
        try ShardedFreeListTests.drainAndRefill(pool)
    }

    /// Stats are read while 8 threads churn (and waves of threads exit, recycling their
    /// records); the snapshots stay within bounds, and once every worker has exited the
    /// counters are exact: every operation was either a hit or a miss.
    @Test func concurrentStatsReadWhileThreadsChurnAndExit() throws {
        let capacity = 8 * (32 + 16)
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 32, capacity: capacity, magazineSize: 16))
        let stop = Atomic<Bool>(false)
        let badSnapshots = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let reader = try PlatformThread {
            while !stop.load(ordering: .acquiring) {
                let stats = pool.statistics
                var occupied = 0
                pool.forEachThreadOccupancy { occupied += $0 }
                if stats.cachedSlots > capacity || stats.maximumThreadOccupancy > 16
                    || occupied > capacity || stats.threadCaches > 9
                {
                    badSnapshots.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        let waves = 4
        let rounds = 50
        for _ in 0..<waves {
            try PlatformThread.run(count: 8) { thread in
                var held: [UnsafeMutableRawPointer] = []
                held.reserveCapacity(32)
                for round in 0..<rounds {
                    do throws(OffHeapError) {
                        for _ in 0..<(1 + (round + thread) % 32) { held.append(try pool.allocate()) }
                        for slot in held { try pool.deallocate(slot) }
                    } catch { failures.wrappingAdd(1, ordering: .relaxed) }
                    held.removeAll(keepingCapacity: true)
                }
            }
        }
        stop.store(true, ordering: .releasing)
        reader.join()
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(badSnapshots.load(ordering: .relaxed) == 0)
        var operations: UInt64 = 0
        for thread in 0..<8 {
            for round in 0..<rounds { operations += UInt64(2 * (1 + (round + thread) % 32)) }
        }
        let stats = pool.statistics
        #expect(stats.hits + stats.misses == operations * UInt64(waves))
        #expect(stats.threadCaches == 0)
        try ShardedFreeListTests.drainAndRefill(pool)
    }

    /// Per-thread occupancy is visible from another thread while the owner is parked.
    @Test func concurrentOccupancyOfParkedThreadsIsReported() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 8, capacity: 512, magazineSize: 32))
        let gate = ShardedSpinGate()
        let release = ShardedSpinGate()
        let workers = try (0..<8).map { thread throws(OffHeapError) in
            try PlatformThread {
                var held: [UnsafeMutableRawPointer] = []
                for _ in 0..<(thread + 1) { held.append(try! pool.allocate()) }
                for slot in held { try! pool.deallocate(slot) }
                gate.arrive()
                release.wait(for: 1)
            }
        }
        gate.waitForArrivals(8)
        var occupancies: [Int] = []
        pool.forEachThreadOccupancy { occupancies.append($0) }
        let stats = pool.statistics
        release.open(1)
        for worker in workers { worker.join() }
        // Each worker refilled 16 and freed everything back: its magazine holds 16.
        #expect(occupancies.count == 8)
        #expect(occupancies.allSatisfy { $0 == 16 })
        #expect(stats.threadCaches == 8 && stats.cachedSlots == 128)
        #expect(stats.maximumThreadOccupancy == 16)
        let after = pool.statistics
        #expect(after.threadCaches == 0 && after.cachedSlots == 0)
    }
}
