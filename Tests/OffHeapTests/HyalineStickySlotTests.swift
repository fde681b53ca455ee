import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

/// The sticky per-thread slot: reused across guards, nested guards get their own slot, a
/// thread's exit gives it back, and destroy/deinit stay safe while threads hold one.
@Suite("Hyaline sticky slots")
struct HyalineStickySlotTests {
    /// A node with `value` and `~value`, so a poisoned (reclaimed) node shows.
    private static func node(_ pool: TestSlotPool, _ value: UInt64) throws(OffHeapError)
        -> UnsafeMutableRawPointer
    {
        let node = try pool.allocate()
        node.storeBytes(of: value, as: UInt64.self)
        node.storeBytes(of: ~value, toByteOffset: 8, as: UInt64.self)
        return node
    }

    private static func intact(_ node: UnsafeMutableRawPointer) -> Bool {
        let value = node.load(as: UInt64.self)
        return value != PoisoningReclaimer.poison
            && node.load(fromByteOffset: 8, as: UInt64.self) == ~value
    }

    @Test func stickySlotIsReusedAndNestedGuardsGetTheirOwn() throws {
        let domain = try HyalineDomain.withRuntimeRow(.init(maximumReaders: 3))
        let first = try domain.enter()
        let sticky = first.slotIndex
        first.leave()
        for _ in 0..<10 {
            let again = try domain.enter()
            #expect(again.slotIndex == sticky, "the thread keeps its slot across guards")
        }
        let outer = try domain.enter()
        let inner = try domain.enter()
        let innermost = try domain.enter()
        #expect(outer.slotIndex == sticky)
        #expect(Set([outer.slotIndex, inner.slotIndex, innermost.slotIndex]).count == 3)
        #expect(throws: OffHeapError.readerSlotsExhausted(maximumReaders: 3)) { _ = try domain.enter() }
        // Guards may end out of order: the sticky slot is free again once `outer` ends,
        // while the nested guards still hold theirs.
        outer.leave()
        let next = try domain.enter()
        #expect(next.slotIndex == sticky)
        #expect(throws: OffHeapError.readerSlotsExhausted(maximumReaders: 3)) { _ = try domain.enter() }
        _ = consume next
        _ = consume inner
        _ = consume innermost
        // Nested leases were given back: two nested guards fit again.
        let a = try domain.enter()
        let b = try domain.enter()
        let c = try domain.enter()
        _ = consume a; _ = consume b; _ = consume c
    }

    /// A node retired inside a nested guard waits for the outer guard of the same thread,
    /// which protected it before the nested guard began.
    @Test func nestedGuardDoesNotReleaseTheOuterGuardsNodes() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 64)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain.withRuntimeRow(.init(maximumReaders: 4, batchThreshold: 1, stripes: 1))
        let id = try domain.register(reclaimer)
        let region = try VirtualMemory.reserve(byteCount: 64, committed: true)
        defer { try? VirtualMemory.release(region) }
        let cell = region.base.assumingMemoryBound(to: Atomic<UInt64>.self)
        let birth = domain.currentEra
        let target = try Self.node(pool, 7)
        cell.initialize(to: Atomic(UInt64(UInt(bitPattern: target))))

        let outer = try domain.enter()
        #expect(outer.protect(cell) == UInt64(UInt(bitPattern: target)))
        do {
            let nested = try domain.enter()
            cell.pointee.store(0, ordering: .sequentiallyConsistent)
            try nested.retire(target, birthEra: birth, reclaimer: id)
            nested.flushPending()
        }  // the nested guard left
        #expect(Self.intact(target), "the outer guard still holds the node")
        #expect(reclaimer.reclaimedCount.load(ordering: .relaxed) == 0)
        outer.leave()
        #expect(!Self.intact(target), "reclaimed once the outer guard left")
        #expect(domain.statistics.unreclaimed == 0)
    }

    /// Rounds of 8 short-lived threads on a domain with exactly 8 slots: each round's threads
    /// take sticky slots, so the next round only finds slots if thread exit gave them back.
    /// Every thread replaces and reads nodes; nothing it reads may be reclaimed under it.
    /// The records are few (1024; a thread keeps up to 32 free ones privately), so later
    /// rounds also run out of retire records unless thread exit gives the private ones back.
    @Test func concurrentThreadExitReturnsStickySlotsAndRecords() throws {
        let threads = 8
        let pool = try TestSlotPool(slotSize: 16, capacity: 2048)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain.withRuntimeRow(
            .init(maximumReaders: threads, recordCapacity: 1024, batchThreshold: 16, stripes: 2))
        let id = try domain.register(reclaimer)
        let region = try VirtualMemory.reserve(byteCount: 64 * threads, committed: true)
        defer { try? VirtualMemory.release(region) }
        @Sendable func cell(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
            (region.base + 64 * index).assumingMemoryBound(to: Atomic<UInt64>.self)
        }
        for index in 0..<threads { cell(index).initialize(to: Atomic(0)) }
        let failures = Atomic<Int>(0)
        let torn = Atomic<Int>(0)
        for round in 0..<10 {
            try PlatformThread.run(count: threads) { worker in
                for step in 0..<60 {
                    do throws(OffHeapError) {
                        let guardian = try domain.enter()
                        // Read a neighbour's cell: its node must stay intact while protected.
                        let seen = guardian.protect(cell((worker + 1) % threads))
                        if let node = UnsafeMutableRawPointer(bitPattern: UInt(seen)),
                            !Self.intact(node)
                        {
                            torn.add(1, ordering: .relaxed)
                        }
                        let fresh = try Self.node(pool, UInt64(round << 20 | worker << 10 | step))
                        let old = cell(worker).pointee.exchange(
                            UInt64(UInt(bitPattern: fresh)), ordering: .sequentiallyConsistent)
                        if let node = UnsafeMutableRawPointer(bitPattern: UInt(old)) {
                            // Birth era 0: the node waits for every reader (always safe).
                            try guardian.retire(node, birthEra: 0, reclaimer: id)
                        }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0, "a later round found no free slot")
        #expect(torn.load(ordering: .relaxed) == 0)
        #expect(reclaimer.rejected.load(ordering: .relaxed) == 0)
        for index in 0..<threads {
            let last = cell(index).pointee.exchange(0, ordering: .sequentiallyConsistent)
            if let node = UnsafeMutableRawPointer(bitPattern: UInt(last)) {
                #expect(Self.intact(node), "live node was reclaimed")
                try pool.deallocate(node)
            }
        }
        try domain.destroy()
        #expect(domain.statistics.unreclaimed == 0)
        #expect(pool.allocatedCount == 0, "every retired node reached the pool exactly once")
    }

    /// A thread keeps the records of batches it frees in a private list (up to
    /// `recordCapacity / (4 × maximumReaders)`); its exit must give them back. 40 short-lived
    /// threads each retire 40 nodes into a domain of 256 records: without the give-back the
    /// records run out after a few threads.
    @Test func threadExitGivesPrivateRecordsBack() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 256)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain.withRuntimeRow(
            .init(maximumReaders: 2, recordCapacity: 256, batchThreshold: 1, stripes: 1))
        let id = try domain.register(reclaimer)
        let failures = Atomic<Int>(0)
        for round in 0..<40 {
            try PlatformThread.run(count: 1) { _ in
                do throws(OffHeapError) {
                    try domain.withGuard { guardian throws(OffHeapError) in
                        for step in 0..<40 {
                            let node = try Self.node(pool, UInt64(round << 8 | step))
                            try guardian.retire(node, birthEra: 0, reclaimer: id)
                        }
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0, "retire records ran out")
        try domain.destroy()
        #expect(pool.allocatedCount == 0)
        #expect(reclaimer.reclaimedCount.load(ordering: .relaxed) == 40 * 40)
    }

    /// 8 threads take sticky slots and stay alive, idle, while the domain is destroyed:
    /// destroy must not wait for their (idle) leases, must reclaim everything, and their
    /// next enter must throw. Then the domain is dropped before the threads exit (their exit
    /// hooks must not touch it), and a new domain — possibly in the same runtime row — is
    /// entered by the same threads (their stale entries must not be mistaken for leases).
    @Test func concurrentDestroyAndDeinitWhileThreadsHoldStickySlots() throws {
        let threads = 8
        let pool = try TestSlotPool(slotSize: 16, capacity: 1024)
        let reclaimer = PoisoningReclaimer(pool)
        final class Box: @unchecked Sendable {
            // @unchecked Sendable: written by the main thread between phases only (the
            // phase counter orders the accesses).
            var domain: HyalineDomain?
            var id = HyalineReclaimerID(rawValue: 0)
        }
        let box = Box()
        box.domain = try HyalineDomain.withRuntimeRow(.init(maximumReaders: threads + 1, batchThreshold: 1 << 10))
        box.id = try box.domain!.register(reclaimer)
        let phase = Atomic<Int>(0)
        let arrived = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        @Sendable func wait(for value: Int) {
            while phase.load(ordering: .acquiring) < value { PlatformThread.yield() }
        }
        let workers = try (0..<threads).map { worker in
            try PlatformThread {
                do throws(OffHeapError) {
                  do {
                    // Phase 0: take the sticky slot and leave something pending.
                    let domain = box.domain!
                    try domain.withGuard { guardian throws(OffHeapError) in
                        let node = try Self.node(pool, UInt64(worker))
                        try guardian.retire(node, birthEra: 0, reclaimer: box.id)
                    }
                    arrived.add(1, ordering: .releasing)
                    wait(for: 1)  // destroyed
                    do throws(OffHeapError) {
                        _ = try domain.enter()
                        failures.add(1, ordering: .relaxed)
                    } catch .destroyed {
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                  }  // this thread's reference to the old domain ends here
                    arrived.add(1, ordering: .releasing)
                    wait(for: 2)  // the old domain is gone; a new one is in `box`
                    let fresh = box.domain!
                    let value = try fresh.withGuard { guardian in guardian.slotIndex }
                    if value < 0 || value >= threads + 1 { failures.add(1, ordering: .relaxed) }
                    arrived.add(1, ordering: .releasing)
                } catch {
                    failures.add(1, ordering: .relaxed)
                    arrived.add(1, ordering: .releasing)
                }
            }
        }
        while arrived.load(ordering: .acquiring) < threads { PlatformThread.yield() }
        #expect(box.domain!.statistics.retired == UInt64(threads))
        try box.domain!.destroy()  // must not wait for the idle sticky leases
        #expect(box.domain!.statistics.unreclaimed == 0)
        phase.store(1, ordering: .releasing)
        while arrived.load(ordering: .acquiring) < 2 * threads { PlatformThread.yield() }
        box.domain = nil  // deinit while 8 threads still hold stale entries for its row
        box.domain = try HyalineDomain.withRuntimeRow(.init(maximumReaders: threads + 1))
        phase.store(2, ordering: .releasing)
        for worker in workers { worker.join() }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(reclaimer.reclaimedCount.load(ordering: .relaxed) == threads)
        #expect(pool.allocatedCount == 0)
        // The threads exited: every slot of the new domain is free again.
        var slots: Set<Int> = []
        try Self.enterNested(box.domain!, count: threads + 1, slots: &slots)
        #expect(slots.count == threads + 1)
    }

    /// Enters `count` nested guards (one sticky, the rest leased) and notes their slots.
    private static func enterNested(
        _ domain: HyalineDomain, count: Int, slots: inout Set<Int>
    ) throws {
        guard count > 0 else { return }
        let guardian = try domain.enter()
        slots.insert(guardian.slotIndex)
        try enterNested(domain, count: count - 1, slots: &slots)
        guardian.leave()
    }

    /// The runtime has 256 rows; further live domains have no sticky slots and lease a slot
    /// per guard, with the same behaviour (reuse after leave, exhaustion, reclamation).
    @Test func domainsBeyondTheRuntimeRowsLeaseASlotPerGuard() throws {
        var domains: [HyalineDomain] = []
        for _ in 0..<300 {
            domains.append(try HyalineDomain(configuration: .init(maximumReaders: 2, recordCapacity: 64)))
        }
        let pool = try TestSlotPool(slotSize: 16, capacity: 64)
        let reclaimer = PoisoningReclaimer(pool)
        for domain in domains {
            let id = try domain.register(reclaimer)
            do {
                let outer = try domain.enter()
                let inner = try domain.enter()
                #expect(outer.slotIndex != inner.slotIndex)
                #expect(throws: OffHeapError.readerSlotsExhausted(maximumReaders: 2)) { _ = try domain.enter() }
                try inner.retire(try Self.node(pool, 1), birthEra: 0, reclaimer: id)
                inner.flushPending()
            }
            let again = try domain.enter()
            again.flushPending()
            again.leave()
            #expect(domain.statistics.retired == 1)
            #expect(domain.statistics.unreclaimed == 0)
        }
        #expect(pool.allocatedCount == 0)
        #expect(reclaimer.rejected.load(ordering: .relaxed) == 0)
    }
}
