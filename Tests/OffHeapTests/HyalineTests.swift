import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

/// A node for the Hyaline tests: `value` and `~value`, so a torn or poisoned node shows.
private func writeNode(_ node: UnsafeMutableRawPointer, _ value: UInt64) {
    node.storeBytes(of: value, as: UInt64.self)
    node.storeBytes(of: ~value, toByteOffset: 8, as: UInt64.self)
}

private func nodeIsIntact(_ node: UnsafeMutableRawPointer) -> Bool {
    let value = node.load(as: UInt64.self)
    return value != PoisoningReclaimer.poison
        && node.load(fromByteOffset: 8, as: UInt64.self) == ~value
}

/// Shared cells that writers replace and readers protect (atomics in off-heap memory).
private final class Cells: @unchecked Sendable {
    // @unchecked Sendable: the cells are atomics in an mmap region.
    let region: VirtualRegion
    let count: Int
    init(count: Int) throws {
        self.count = count
        region = try VirtualMemory.reserve(byteCount: count * 64, committed: true)
        for index in 0..<count { self[index].initialize(to: Atomic(0)) }
    }
    deinit { try? VirtualMemory.release(region) }
    subscript(index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (region.base + index * 64).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}

@Suite("Hyaline")
struct HyalineTests {
    @Test func retiredNodeWaitsForTheReaderThatCouldSeeIt() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 256)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4, batchThreshold: 8, stripes: 1))
        let id = try domain.register(reclaimer)
        let cells = try Cells(count: 1)
        let node = try pool.allocate()
        let birth = domain.currentEra
        writeNode(node, 42)
        cells[0].pointee.store(UInt64(UInt(bitPattern: node)), ordering: .sequentiallyConsistent)

        let reader = try domain.enter()
        let seen = reader.protect(cells[0])
        #expect(seen == UInt64(UInt(bitPattern: node)))
        do {
            let writer = try domain.enter()
            cells[0].pointee.store(0, ordering: .sequentiallyConsistent)
            try writer.retire(node, birthEra: birth, reclaimer: id)
            // Fill the batch with fresh nodes so it flushes.
            for value in 0..<10 {
                let other = try pool.allocate()
                writeNode(other, UInt64(value))
                try writer.retire(other, birthEra: domain.currentEra, reclaimer: id)
            }
        }
        #expect(domain.statistics.batches >= 1)
        // The reader still holds `node`: it must be intact and not reclaimed.
        #expect(nodeIsIntact(node))
        #expect(node.load(as: UInt64.self) == 42)
        reader.leave()
        #expect(!nodeIsIntact(node), "reclaimed (poisoned) once the reader left")
        #expect(reclaimer.rejected.load(ordering: .relaxed) == 0)
    }

    @Test func guardKeepsItsDomainAlive() throws {
        func enterFreshDomain() throws -> HyalineGuard {
            let domain = try HyalineDomain(configuration: .init(maximumReaders: 2))
            return try domain.enter()  // the only reference left is the guard's
        }
        let cells = try Cells(count: 1)
        cells[0].pointee.store(7, ordering: .relaxed)
        let guardian = try enterFreshDomain()
        #expect(guardian.protect(cells[0]) == 7)
        guardian.flushPending()
        guardian.leave()  // would touch unmapped memory if the domain were already gone
    }

    @Test func batchesNeverShorterThanKPlusOne() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 64)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 8, batchThreshold: 1, stripes: 1))
        let id = try domain.register(reclaimer)
        // Lease 5 slots at once: k = 5, so a batch needs 6 records.
        let g1 = try domain.enter(), g2 = try domain.enter(), g3 = try domain.enter()
        let g4 = try domain.enter(), g5 = try domain.enter()
        #expect(domain.readerHighWater >= 5)
        let k = domain.readerHighWater
        for index in 0..<k {
            try g1.retire(try pool.allocate(), birthEra: domain.currentEra, reclaimer: id)
            #expect(domain.statistics.batches == 0, "flushed after \(index + 1) < k + 1 nodes")
        }
        try g1.retire(try pool.allocate(), birthEra: domain.currentEra, reclaimer: id)
        #expect(domain.statistics.batches == 1)
        #expect(domain.statistics.padding == 0)
        // A forced flush of 2 nodes pads to k + 1 with dummies.
        try g2.retire(try pool.allocate(), birthEra: domain.currentEra, reclaimer: id)
        try g2.retire(try pool.allocate(), birthEra: domain.currentEra, reclaimer: id)
        g3.flushPending()
        #expect(domain.statistics.batches == 2)
        #expect(domain.statistics.padding == UInt64(k + 1 - 2))
        _ = consume g1; _ = consume g2; _ = consume g3; _ = consume g4; _ = consume g5
        #expect(domain.statistics.unreclaimed == 0)
        #expect(pool.allocatedCount == 0)
    }

    @Test func foreignPointerIsRejectedAndDomainStaysUsable() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 16)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 2, batchThreshold: 4))
        let id = try domain.register(PoisoningReclaimer(pool))
        let foreign = try VirtualMemory.reserve(byteCount: 4096, committed: true)
        defer { try? VirtualMemory.release(foreign) }
        let guardian = try domain.enter()
        #expect(throws: OffHeapError.foreignPointer) {
            try guardian.retire(foreign.base, birthEra: 0, reclaimer: id)
        }
        #expect(throws: OffHeapError.self) {
            try guardian.retire(try pool.allocate(), birthEra: 0,
                                reclaimer: HyalineReclaimerID(rawValue: 9))
        }
        try guardian.retire(try pool.allocate(), birthEra: 0, reclaimer: id)
        #expect(domain.statistics.retired == 1)
        guardian.leave()
        try domain.destroy()
        #expect(domain.statistics.unreclaimed == 0)
    }

    @Test func destroyedDomainThrowsTypedErrors() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 16)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 2, batchThreshold: 8))
        let id = try domain.register(PoisoningReclaimer(pool))
        do {
            let guardian = try domain.enter()
            for _ in 0..<3 { try guardian.retire(try pool.allocate(), birthEra: 0, reclaimer: id) }
        }
        #expect(pool.allocatedCount == 3, "pending, below the threshold")
        try domain.destroy()
        #expect(pool.allocatedCount == 0, "destroy reclaims pending nodes")
        #expect(domain.isDestroyed)
        #expect(throws: OffHeapError.destroyed) { _ = try domain.enter() }
        #expect(throws: OffHeapError.destroyed) { _ = try domain.register(PoisoningReclaimer(pool)) }
        #expect(throws: OffHeapError.destroyed) { try domain.destroy() }
        #expect(domain.reclaimPending() == false)
    }

    @Test func badConfigurationAndTooManyReaders() throws {
        #expect(throws: OffHeapError.self) { _ = try HyalineDomain(configuration: .init(maximumReaders: 0)) }
        #expect(throws: OffHeapError.self) { _ = try HyalineDomain(configuration: .init(recordCapacity: 3)) }
        #expect(throws: OffHeapError.self) { _ = try HyalineDomain(configuration: .init(stripes: 3)) }
        #expect(throws: OffHeapError.self) {
            _ = try HyalineDomain(configuration: .init(controller: .init(setpoint: 2)))
        }
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 2))
        let a = try domain.enter()
        let b = try domain.enter()
        #expect(throws: OffHeapError.readerSlotsExhausted(maximumReaders: 2)) { _ = try domain.enter() }
        a.leave()
        let c = try domain.enter()
        _ = consume b; _ = consume c
    }

    /// 8 threads: 4 writers replace nodes in shared cells and retire the old ones, 4 readers
    /// protect cells and check the nodes they see are intact (not poisoned by reclamation).
    /// At the end every retired node was reclaimed exactly once and no live node was lost.
    @Test func concurrentReplaceAndReadAcross8Threads() throws {
        let cellCount = 16
        let pool = try TestSlotPool(slotSize: 32, capacity: 4096)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 16, batchThreshold: 32, stripes: 4))
        let id = try domain.register(reclaimer)
        let cells = try Cells(count: cellCount)
        for index in 0..<cellCount {
            let node = try pool.allocate()
            writeNode(node, UInt64(index))
            node.storeBytes(of: domain.currentEra, toByteOffset: 16, as: UInt64.self)
            cells[index].pointee.store(UInt64(UInt(bitPattern: node)), ordering: .sequentiallyConsistent)
        }
        let corrupt = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let iterations = 2000
        try PlatformThread.run(count: 8) { worker in
            var random = UInt64(worker + 1) &* goldenGamma
            for step in 0..<iterations {
                random ^= random << 13; random ^= random >> 7; random ^= random << 17
                let cell = Int(random % UInt64(cellCount))
                do {
                    let guardian = try domain.enter()
                    if worker < 4 {
                        let node = try pool.allocate()
                        writeNode(node, UInt64(worker << 32 | step))
                        node.storeBytes(
                            of: domain.currentEra, toByteOffset: 16, as: UInt64.self)
                        let old = cells[cell].pointee.exchange(
                            UInt64(UInt(bitPattern: node)), ordering: .sequentiallyConsistent)
                        // The unlinked node is ours now: retire it with ITS birth era.
                        let oldNode = UnsafeMutableRawPointer(bitPattern: UInt(old))!
                        try guardian.retire(
                            oldNode, birthEra: oldNode.load(fromByteOffset: 16, as: UInt64.self),
                            reclaimer: id)
                    } else {
                        let bits = guardian.protect(cells[cell])
                        let node = UnsafeMutableRawPointer(bitPattern: UInt(bits))!
                        if !nodeIsIntact(node) { corrupt.add(1, ordering: .relaxed) }
                        // Hold the node across a yield: writers retire it meanwhile.
                        if step % 8 == 0 { PlatformThread.yield() }
                        if !nodeIsIntact(node) { corrupt.add(1, ordering: .relaxed) }
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(corrupt.load(ordering: .relaxed) == 0)
        #expect(failures.load(ordering: .relaxed) == 0)
        try domain.destroy()
        let stats = domain.statistics
        #expect(stats.retired == UInt64(4 * iterations))
        #expect(stats.reclaimed == stats.retired)
        #expect(reclaimer.rejected.load(ordering: .relaxed) == 0, "no double reclaim")
        #expect(pool.allocatedCount == cellCount, "exactly the live nodes remain allocated")
        for index in 0..<cellCount {
            let bits = cells[index].pointee.load(ordering: .relaxed)
            #expect(nodeIsIntact(UnsafeMutableRawPointer(bitPattern: UInt(bits))!))
        }
    }

    /// The pool reclaimer's in-use count drops once per reclaimed batch (`didReclaim`), and
    /// ends at exactly the nodes still allocated, across threads.
    @Test func concurrentPoolReclaimerCountsEveryReclaimedNode() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 4096)
        let nodes = HyalinePoolReclaimer(pool)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 16, batchThreshold: 8, stripes: 2))
        let id = try domain.register(nodes)
        let kept = Atomic<Int>(0)
        try PlatformThread.run(count: 8) { worker in
            for step in 0..<200 {
                do throws(OffHeapError) {
                    let node = try nodes.allocate()
                    if step % 50 == 0 {
                        kept.add(1, ordering: .relaxed)  // stays allocated
                        continue
                    }
                    try domain.withGuard { guardian throws(OffHeapError) in
                        try guardian.retire(node, birthEra: domain.currentEra, reclaimer: id)
                    }
                } catch {}
            }
        }
        try domain.destroy()  // reclaims every pending node
        #expect(domain.statistics.unreclaimed == 0)
        #expect(nodes.allocatedCount == kept.load(ordering: .relaxed))
        #expect(pool.allocatedCount == kept.load(ordering: .relaxed))
    }
}
