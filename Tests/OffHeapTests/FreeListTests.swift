import Synchronization
import Testing

@testable import OffHeap

@Suite("FreeList")
struct FreeListTests {
    static let page = VirtualMemory.pageSize

    func pool(
        slotSize: Int = 64, slotAlignment: Int = 8, capacity: Int = 256, slabSize: Int? = nil,
        growth: FreeList.Growth = .lazy, checking: OffHeapChecking = .checked,
        decommitOnReset: Bool = false
    ) throws -> FreeList {
        try FreeList(
            configuration:
                .init(
                    slotSize: slotSize, slotAlignment: slotAlignment, capacity: capacity, slabSize: slabSize,
                    growth: growth, checking: checking, decommitOnReset: decommitOnReset))
    }

    /// Allocates until `.capacityExhausted`; returns the slot indices in allocation order.
    func drain(_ pool: FreeList) throws -> [Int] {
        var indices: [Int] = []
        while true {
            do {
                indices.append(try pool.slotIndex(of: try pool.allocate()))
            } catch .capacityExhausted {
                return indices
            }
        }
    }

    // MARK: Configuration

    @Test func badConfigurationIsATypedError() {
        let page = Self.page
        #expect(throws: OffHeapError.invalidConfiguration(reason: "slotSize must be at least 8 bytes")) {
            _ = try pool(slotSize: 7)
        }
        #expect(throws: OffHeapError.invalidAlignment(3)) { _ = try pool(slotAlignment: 3) }
        #expect(throws: OffHeapError.invalidAlignment(0)) { _ = try pool(slotAlignment: 0) }
        #expect(throws: OffHeapError.invalidAlignment(2 * page)) { _ = try pool(slotAlignment: 2 * page) }
        #expect(throws: OffHeapError.invalidConfiguration(reason: "capacity must be at least 1")) {
            _ = try pool(capacity: 0)
        }
        #expect(throws: OffHeapError.invalidConfiguration(reason: "capacity must be below 2^32 - 2")) {
            _ = try pool(slotSize: 8, capacity: FreeList.maximumCapacity + 1)
        }
        #expect(throws: OffHeapError.invalidConfiguration(reason: "slabSize must be a multiple of the page size")) {
            _ = try pool(slabSize: page + 8)
        }
        #expect(throws: OffHeapError.invalidConfiguration(reason: "slabSize must hold at least one slot")) {
            _ = try pool(slotSize: 2 * page, slabSize: page)
        }
        #expect(throws: OffHeapError.sizeTooLarge(requested: 1 << 47, limit: 1 << 46)) {
            _ = try pool(slotSize: 1 << 27, capacity: 1 << 20)
        }
        // Still usable configurations after the failures.
        #expect(throws: Never.self) { _ = try pool(slotSize: 8, slotAlignment: page, capacity: 1) }
    }

    @Test func slotSizeIsRoundedToTheAlignment() throws {
        let pool = try pool(slotSize: 24, slotAlignment: 16, capacity: 100)
        #expect(pool.slotSize == 32)
        #expect(pool.slotAlignment == 16)
        var seen = Set<Int>()
        for _ in 0..<100 {
            let p = try pool.allocate()
            #expect(Int(bitPattern: p) % 16 == 0)
            let index = try pool.slotIndex(of: p)
            #expect(pool.slot(at: index) == p)
            #expect(seen.insert(index).inserted)
            // The whole slot is writable.
            p.initializeMemory(as: UInt8.self, repeating: UInt8(index & 0xFF), count: 32)
        }
        #expect(seen == Set(0..<100))
        #expect(pool.slot(at: 100) == nil)
        #expect(pool.slot(at: -1) == nil)
        #expect(throws: OffHeapError.capacityExhausted(capacity: 100)) { _ = try pool.allocate() }
    }

    // MARK: Allocate / deallocate

    @Test func exhaustionAndRecoveryWithNonPowerOfTwoStride() throws {
        // stride 48: indices go through the reciprocal division; slots straddle pages.
        let pool = try pool(slotSize: 48, capacity: 300, slabSize: Self.page)
        #expect(pool.reciprocal != 0)
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0..<300 {
            let p = try pool.allocate()
            p.initializeMemory(as: UInt8.self, repeating: 0xAB, count: 48)
            pointers.append(p)
        }
        #expect(Set(try pointers.map { try pool.slotIndex(of: $0) }) == Set(0..<300))
        #expect(throws: OffHeapError.capacityExhausted(capacity: 300)) { _ = try pool.allocate() }
        #expect(pool.statistics.inUse == 300)
        for p in pointers { try pool.deallocate(p) }
        #expect(pool.statistics.inUse == 0)
        // Every slot is allocatable again, exactly once.
        let again = try drain(pool)
        #expect(again.count == 300)
        #expect(Set(again) == Set(0..<300))
    }

    @Test func freedSlotIsReusedFirst() throws {
        let pool = try pool()
        let a = try pool.allocate()
        let b = try pool.allocate()
        #expect(a != b)
        try pool.deallocate(a)
        #expect(try pool.allocate() == a)
        try pool.deallocate(b)
        #expect(try pool.allocate() == b)
    }

    @Test func badPointersAreTypedErrorsAndThePoolStaysUsable() throws {
        let pool = try pool(slotSize: 64, capacity: 1000, slabSize: Self.page)
        let other = try self.pool()
        let p = try pool.allocate()
        let q = try other.allocate()
        let heap = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { heap.deallocate() }
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(heap) }
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(q) }
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(p - 64) }
        #expect(throws: OffHeapError.interiorPointer) { try pool.deallocate(p + 8) }
        #expect(throws: OffHeapError.interiorPointer) { try pool.deallocate(p + 32) }
        #expect(throws: OffHeapError.misalignedPointer) { try pool.deallocate(p + 1) }
        #expect(throws: OffHeapError.misalignedPointer) { try pool.deallocate(p + 63) }
        // Inside the reservation, but its slab was never committed or handed out.
        let unpublished = try #require(pool.slot(at: 999))
        #expect(pool.contains(unpublished))
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(unpublished) }
        #expect(throws: OffHeapError.foreignPointer) { _ = try pool.slotIndex(of: unpublished) }
        #expect(!pool.contains(q))
        #expect(pool.contains(p + 8))
        #expect(pool.statistics.inUse == 1)
        try pool.deallocate(p)
        try other.deallocate(q)
        #expect(pool.statistics.inUse == 0)
        #expect(try drain(pool).count == 1000)
    }

    @Test func doubleFreeIsDetectedDeterministicallyInCheckedMode() throws {
        let pool = try pool(capacity: 64)
        var held: [UnsafeMutableRawPointer] = []
        for _ in 0..<10 { held.append(try pool.allocate()) }
        try pool.deallocate(held[3])
        for _ in 0..<5 {
            #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(held[3]) }
        }
        #expect(pool.statistics.inUse == 9)
        // Never-allocated (published, free) slots are double frees too.
        let free = try #require(pool.slot(at: 40))
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(free) }
        for (i, p) in held.enumerated() where i != 3 { try pool.deallocate(p) }
        // The list was not corrupted: 64 distinct slots, then exhaustion.
        let all = try drain(pool)
        #expect(all.count == 64)
        #expect(Set(all).count == 64)
    }

    @Test func uncheckedModeStillValidatesPointers() throws {
        let pool = try pool(slotSize: 40, capacity: 128, checking: .unchecked)
        let p = try pool.allocate()
        #expect(throws: OffHeapError.interiorPointer) { try pool.deallocate(p + 8) }
        #expect(throws: OffHeapError.misalignedPointer) { try pool.deallocate(p + 4) }
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(p - 40) }
        try pool.deallocate(p)
        let all = try drain(pool)
        #expect(Set(all) == Set(0..<128))
    }

    // MARK: Encoding and the ABA tag

    @Test func headAndLinkEncodingsRoundTrip() {
        for (index, tag) in [(UInt32(0), UInt32(0)), (7, 0xFFFF_FFFF), (0xFFFF_FFFE, 1), (0x1234_5678, 0x9ABC_DEF0)] {
            let head = FreeList.Head(index: index, tag: tag)
            #expect(head.index == index)
            #expect(head.tag == tag)
            #expect(FreeList.Head(raw: head.raw) == head)
            let next = head.replacing(index: 42)
            #expect(next.index == 42)
            #expect(next.tag == tag &+ 1)
            let link = FreeList.Link(next: index, depth: tag)
            #expect(link.next == index)
            #expect(link.depth == tag)
        }
        #expect(FreeList.Head.emptyIndex != FreeList.Head.lockedIndex)
        #expect(FreeList.maximumCapacity < Int(FreeList.Head.lockedIndex))
    }

    @Test func staleHeadCASFailsAfterABA() throws {
        let pool = try pool(capacity: 16, growth: .preallocate(populate: false))
        let stale = pool.head.pointee.load(ordering: .acquiring)
        // Pop and push the same slot: the head index is the same again (ABA)...
        let p = try pool.allocate()
        try pool.deallocate(p)
        let now = pool.head.pointee.load(ordering: .acquiring)
        #expect(FreeList.Head(raw: now).index == FreeList.Head(raw: stale).index)
        #expect(FreeList.Head(raw: now).tag == FreeList.Head(raw: stale).tag &+ 2)
        // ...but a CAS expecting the stale word fails thanks to the tag.
        let desired = FreeList.Head(raw: stale).replacing(index: 5).raw
        let (exchanged, _) = pool.head.pointee.compareExchange(
            expected: stale, desired: desired, ordering: .acquiringAndReleasing)
        #expect(!exchanged)
        #expect(pool.head.pointee.load(ordering: .relaxed) == now)
    }

    // MARK: Batch

    @Test func batchPopAndPushUseOneCASEach() throws {
        let pool = try pool(capacity: 100, growth: .preallocate(populate: false))
        let buffer = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 32)
        defer { buffer.deallocate() }
        let tagBefore = FreeList.Head(raw: pool.head.pointee.load(ordering: .relaxed)).tag
        #expect(try pool.allocate(into: buffer) == 32)
        #expect(FreeList.Head(raw: pool.head.pointee.load(ordering: .relaxed)).tag == tagBefore &+ 1)
        let indices = try buffer.map { try pool.slotIndex(of: $0) }
        #expect(Set(indices).count == 32)
        #expect(pool.statistics.inUse == 32)
        for p in buffer { p.storeBytes(of: UInt64(Int(bitPattern: p)), as: UInt64.self) }
        try pool.deallocate(contentsOf: UnsafeBufferPointer(buffer))
        #expect(FreeList.Head(raw: pool.head.pointee.load(ordering: .relaxed)).tag == tagBefore &+ 2)
        #expect(pool.statistics.inUse == 0)
        // The pushed chain has correct depths: the free count is exact.
        #expect(pool.statistics.publishedSlots - pool.statistics.inUse == 100)
        // Pushed as if freed one by one in buffer order: the last pointer is on top.
        #expect(try pool.allocate() == buffer[31])
        #expect(try pool.allocate() == buffer[30])
        #expect(Set(try drain(pool)).count == 98)
    }

    @Test func batchAllocateIsPartialNearExhaustionThenThrows() throws {
        let pool = try pool(capacity: 10)
        let buffer = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 32)
        defer { buffer.deallocate() }
        #expect(try pool.allocate(into: buffer) == 10)
        #expect(Set(try buffer[..<10].map { try pool.slotIndex(of: $0) }) == Set(0..<10))
        #expect(throws: OffHeapError.capacityExhausted(capacity: 10)) { _ = try pool.allocate(into: buffer) }
        try pool.deallocate(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<10]))
        #expect(pool.statistics.inUse == 0)
        // Spans several slabs when growing lazily.
        let big = try self.pool(slotSize: 64, capacity: 300, slabSize: Self.page)
        let many = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 200)
        defer { many.deallocate() }
        #expect(try big.allocate(into: many) == 200)
        #expect(Set(try many.map { try big.slotIndex(of: $0) }).count == 200)
        #expect(big.statistics.slabs == 4)
    }

    @Test func batchDeallocateIsAllOrNothing() throws {
        let pool = try pool(capacity: 64)
        let buffer = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 8)
        defer { buffer.deallocate() }
        #expect(try pool.allocate(into: buffer) == 8)
        let saved = buffer[5]
        // A pointer listed twice: double free, nothing freed.
        buffer[5] = buffer[2]
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(contentsOf: UnsafeBufferPointer(buffer)) }
        #expect(pool.statistics.inUse == 8)
        // An interior pointer: rejected before anything is marked.
        buffer[5] = saved + 8
        #expect(throws: OffHeapError.interiorPointer) { try pool.deallocate(contentsOf: UnsafeBufferPointer(buffer)) }
        #expect(pool.statistics.inUse == 8)
        // An already-free pointer in the middle.
        buffer[5] = saved
        try pool.deallocate(buffer[6])
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(contentsOf: UnsafeBufferPointer(buffer)) }
        #expect(pool.statistics.inUse == 7)
        // Every other slot of the batch is still allocated: freeing them one by one works.
        for (i, p) in buffer.enumerated() where i != 6 { try pool.deallocate(p) }
        #expect(pool.statistics.inUse == 0)
        #expect(Set(try drain(pool)).count == 64)
        // Empty batch is a no-op.
        try pool.deallocate(contentsOf: UnsafeBufferPointer(start: nil, count: 0))
    }

    // MARK: Growth

    @Test func lazyGrowthCommitsSlabsInOrderIncludingStraddlingSlots() throws {
        let page = Self.page
        // 48-byte slots in one-page slabs: slot 85 (bytes 4080..<4128) straddles slabs 0/1.
        let pool = try pool(slotSize: 48, capacity: 1000, slabSize: page)
        #expect(pool.statistics.slabs == 0)
        #expect(pool.statistics.committedBytes == 0)
        #expect(pool.statistics.totalSlabs == (1000 * 48 + page - 1) / page)
        let perPage = page / 48
        var held: [UnsafeMutableRawPointer] = []
        for _ in 0..<perPage {
            let p = try pool.allocate()
            p.initializeMemory(as: UInt8.self, repeating: 0x5A, count: 48)
            held.append(p)
        }
        #expect(pool.statistics.slabs == 1)
        #expect(pool.statistics.committedBytes == page)
        let straddling = try pool.allocate()
        #expect(try pool.slotIndex(of: straddling) == perPage)
        straddling.initializeMemory(as: UInt8.self, repeating: 0xA5, count: 48)  // faults if uncommitted
        #expect(pool.statistics.slabs == 2)
        try pool.deallocate(straddling)
        for p in held { try pool.deallocate(p) }
        // No growth while free slots remain.
        _ = try drain(pool)
        #expect(pool.statistics.slabs == pool.statistics.totalSlabs)
        #expect(pool.statistics.peakInUse == 1000)
    }

    @Test func preallocatedPoolIsFullyCommitted() throws {
        let pool = try pool(slotSize: 64, capacity: 1000, growth: .preallocate(populate: true))
        let stats = pool.statistics
        #expect(stats.slabs == stats.totalSlabs)
        #expect(stats.committedBytes == stats.reservedBytes)
        #expect(stats.publishedSlots == 1000)
        #expect(stats.inUse == 0)
        #expect(Set(try drain(pool)) == Set(0..<1000))
    }

    @Test func transparentHugePagesPoolWorks() throws {
        let pool = try FreeList(configuration: .init(slotSize: 256, capacity: 10_000, hugePages: .transparent))
        let p = try pool.allocate()
        p.storeBytes(of: 99, as: Int.self)
        #expect(p.load(as: Int.self) == 99)
        try pool.deallocate(p)
    }

    // MARK: Reset

    @Test func resetFreesEverySlotAndKeepsMappings() throws {
        let pool = try pool(slotSize: 64, capacity: 200, slabSize: Self.page)
        var held: [UnsafeMutableRawPointer] = []
        for _ in 0..<150 { held.append(try pool.allocate()) }
        held[0].storeBytes(of: 0xFEED, as: UInt64.self)
        let slabs = pool.statistics.slabs
        let epoch = pool.resetEpoch
        try pool.reset()
        #expect(pool.resetEpoch == epoch + 1)
        #expect(pool.statistics.inUse == 0)
        #expect(pool.statistics.peakInUse == 0)
        #expect(pool.statistics.slabs == slabs)
        #expect(held[0].load(as: UInt64.self) == 0xFEED)  // mapping kept, no decommit
        // Pointers held across the reset are free now: freeing one is a use after reset.
        #expect(throws: OffHeapError.useAfterReset) { try pool.deallocate(held[1]) }
        let all = try drain(pool)
        #expect(Set(all) == Set(0..<200))
        #expect(pool.statistics.peakInUse == 200)
    }

    @Test func resetCanDecommit() throws {
        let pool = try pool(slotSize: 64, capacity: 128, decommitOnReset: true)
        let p = try pool.allocate()
        p.storeBytes(of: 0xFEED, as: UInt64.self)
        try pool.reset()
        let q = try pool.allocate()
        #expect(q == p)
        #expect(q.load(as: UInt64.self) == 0)
        try pool.deallocate(q)
    }

    @Test func resetIsGuardedByTheLockedHead() throws {
        let pool = try pool(capacity: 32, growth: .preallocate(populate: false))
        let p = try pool.allocate()
        // What other threads observe while a reset runs: growLock held, head locked.
        let saved = pool.head.pointee.load(ordering: .relaxed)
        pool.growLock.pointee.store(FreeList.growLockHeldByReset, ordering: .relaxed)
        pool.head.pointee.store(
            FreeList.Head(raw: saved).replacing(index: FreeList.Head.lockedIndex).raw,
            ordering: .relaxed)
        #expect(!pool.needsReset)
        #expect(throws: OffHeapError.concurrentReset) { _ = try pool.allocate() }
        #expect(throws: OffHeapError.concurrentReset) { try pool.deallocate(p) }
        #expect(throws: OffHeapError.concurrentReset) { try pool.reset() }
        // A locked head with no reset running is the poisoned state: only reset() cures it.
        pool.growLock.pointee.store(0, ordering: .relaxed)
        #expect(pool.needsReset)
        #expect(throws: OffHeapError.concurrentReset) { _ = try pool.allocate() }
        try pool.reset()
        #expect(!pool.needsReset)
        #expect(Set(try drain(pool)) == Set(0..<32))
    }

    @Test func pushThatRacedAResetPoisonsUntilTheNextReset() throws {
        let pool = try pool(capacity: 16, growth: .preallocate(populate: false))
        let p = try pool.allocate()
        #expect(!pool.needsReset)
        pool.poisonAfterStaleLinkWrite()
        #expect(pool.needsReset)
        pool.poisonAfterStaleLinkWrite()  // idempotent, returns at once
        #expect(throws: OffHeapError.concurrentReset) { _ = try pool.allocate() }
        #expect(throws: OffHeapError.concurrentReset) { try pool.deallocate(p) }
        let buffer = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 2)
        defer { buffer.deallocate() }
        #expect(throws: OffHeapError.concurrentReset) { _ = try pool.allocate(into: buffer) }
        try pool.reset()
        #expect(!pool.needsReset)
        #expect(Set(try drain(pool)) == Set(0..<16))
    }

    @Test func growerWhosePushMeetsAPoisonedHeadFailsInsteadOfWaitingForItself() throws {
        // grow() pushes its new slab while holding growLock (value 1). If a pusher that raced
        // an earlier reset poisons the head between the grower's link writes and its CAS,
        // the grower's pushChain finds a locked head after writing links and calls
        // poisonAfterStaleLinkWrite(), which must not wait for the lock the grower holds.
        let pool = try pool(capacity: 16, growth: .preallocate(populate: false))
        let index = UInt32(try pool.slotIndex(of: try pool.allocate()))
        pool.growLock.pointee.store(1, ordering: .relaxed)  // as grow() holds it
        pool.poisonAfterStaleLinkWrite()
        #expect(pool.needsReset)
        let finished = Atomic<Bool>(false)
        let threw = Atomic<Bool>(false)
        let epoch = pool.resetEpoch
        let grower = try PlatformThread {
            do throws(OffHeapError) {
                // linkedBelow: the chain's links are written already, as on a grower's retry.
                try pool.pushChain(first: index, last: index, count: 1, epoch: epoch, linkedBelow: 0)
            } catch {
                threw.store(error == .concurrentReset, ordering: .relaxed)
            }
            finished.store(true, ordering: .releasing)
        }
        let deadline = MonotonicClock.nanoseconds + 2_000_000_000
        while !finished.load(ordering: .acquiring) && MonotonicClock.nanoseconds < deadline {
            PlatformThread.sleep(nanoseconds: 1_000_000)
        }
        let finishedWhileHolding = finished.load(ordering: .acquiring)
        pool.growLock.pointee.store(0, ordering: .releasing)  // unblocks a stuck pusher
        grower.join()
        let threwConcurrentReset = threw.load(ordering: .relaxed)
        #expect(finishedWhileHolding)
        #expect(threwConcurrentReset)
        try pool.reset()
        #expect(!pool.needsReset)
        #expect(Set(try drain(pool)) == Set(0..<16))
    }

    // MARK: Typed access and owned handles

    @Test func typedAllocationChecksSizeAndAlignment() throws {
        let pool = try pool(slotSize: 16, slotAlignment: 16, capacity: 8)
        let v = try pool.allocate(SIMD4<Float>.self)
        v.initialize(to: SIMD4(1, 2, 3, 4))
        #expect(v.pointee.w == 4)
        try pool.deallocate(v)
        #expect(throws: OffHeapError.sizeTooLarge(requested: 32, limit: 16)) {
            _ = try pool.allocate(SIMD8<Float>.self)
        }
        let small = try self.pool(slotSize: 16, slotAlignment: 8, capacity: 8)
        #expect(throws: OffHeapError.invalidAlignment(16)) { _ = try small.allocate(SIMD4<Float>.self) }
        let u = try small.allocate(UInt64.self)
        try small.deallocate(u)
        #expect(throws: OffHeapError.doubleFree) { try small.deallocate(u) }
    }

    @Test func slotHandleFreesOnceAndDetectsUseAfterReset() throws {
        let pool = try pool(capacity: 16)
        let slot = try pool.allocateSlot()
        slot.pointer.storeBytes(of: 5, as: Int.self)
        #expect(pool.statistics.inUse == 1)
        try pool.deallocate(slot)
        // try pool.deallocate(slot)  // does not compile: 'slot' used after consume
        #expect(pool.statistics.inUse == 0)

        let stale = try pool.allocateSlot()
        try pool.reset()
        let fresh = try pool.allocateSlot()
        #expect(fresh.pointer == stale.pointer)  // the same slot, owned anew
        var rejection: OffHeapError?
        do { try pool.deallocate(stale) } catch { rejection = error }
        #expect(rejection == .useAfterReset)
        #expect(pool.statistics.inUse == 1)  // the new owner's slot was not freed
        try pool.deallocate(fresh)
        #expect(pool.statistics.inUse == 0)
    }

    // MARK: Protocol use

    func churn(_ allocator: some FixedSizeAllocator, rounds: Int) throws(OffHeapError) -> Int {
        var distinct = Set<UInt>()
        for round in 0..<rounds {
            let p = try allocator.allocate()
            p.storeBytes(of: UInt64(round), as: UInt64.self)
            #expect(p.load(as: UInt64.self) == UInt64(round))
            distinct.insert(UInt(bitPattern: p))
            try allocator.deallocate(p)
        }
        return distinct.count
    }

    @Test func worksThroughFixedSizeAllocator() throws {
        let pool = try pool(slotSize: 24, slotAlignment: 8, capacity: 4)
        #expect(try churn(pool, rounds: 50) == 1)  // LIFO: the same slot every time
        #expect(pool.slotSize == 24)
        #expect(pool.statistics.inUse == 0)
    }

    // MARK: Statistics

    @Test func statsAreExactWhenQuiescent() throws {
        let pool = try pool(slotSize: 64, capacity: 500, slabSize: Self.page)
        var held: [UnsafeMutableRawPointer] = []
        for _ in 0..<100 { held.append(try pool.allocate()) }
        for p in held[60...] { try pool.deallocate(p) }
        var stats = pool.statistics
        #expect(stats.inUse == 60)
        #expect(stats.peakInUse == 100)
        #expect(stats.casRetries == 0)
        #expect(stats.capacity == 500)
        #expect(stats.slabs == 2)  // 64 slots per page
        #expect(stats.committedBytes == 2 * Self.page)
        #expect(stats.reservedBytes == VirtualMemory.roundUp(500 * 64, to: Self.page))
        for _ in 0..<20 { held.append(try pool.allocate()) }
        stats = pool.statistics
        #expect(stats.inUse == 80)
        #expect(stats.peakInUse == 100)
        for _ in 0..<30 { held.append(try pool.allocate()) }
        #expect(pool.statistics.peakInUse == 110)
    }
}
