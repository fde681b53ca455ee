@testable import OffHeap
import Synchronization
import Testing

/// Test-only shared scratch: a fixed array of words threads write into, published to the
/// joining thread by `join` (happens-before). `@unchecked Sendable`: each element is written
/// by one thread and read only after that thread was joined (or through `Atomic`s).
final class ShardedTestWords: @unchecked Sendable {
    let words: UnsafeMutableBufferPointer<UInt>
    init(count: Int) {
        words = .allocate(capacity: count)
        words.initialize(repeating: 0)
    }
    deinit { words.deallocate() }
    subscript(index: Int) -> UInt {
        get { words[index] }
        set { words[index] = newValue }
    }
}

/// A spin barrier on an `Atomic` (no Mutex: TSan reports Synchronization.Mutex falsely).
final class ShardedSpinGate: Sendable {
    let arrived = Atomic<Int>(0)
    let phase = Atomic<Int>(0)
    func arrive() { arrived.wrappingAdd(1, ordering: .acquiringAndReleasing) }
    func waitForArrivals(_ count: Int) {
        while arrived.load(ordering: .acquiring) < count { PlatformThread.yield() }
    }
    func open(_ value: Int) { phase.store(value, ordering: .releasing) }
    func wait(for value: Int) {
        while phase.load(ordering: .acquiring) < value { PlatformThread.yield() }
    }
}

@Suite("ShardedFreeList")
struct ShardedFreeListTests {
    /// Allocates every slot of `pool` on the calling thread and checks they are distinct,
    /// in range, and that one more is refused; then frees them all.
    static func drainAndRefill(_ pool: ShardedFreeList) throws {
        var seen = Set<UInt>()
        var slots: [UnsafeMutableRawPointer] = []
        for _ in 0..<pool.capacity {
            let slot = try pool.allocate()
            #expect(seen.insert(UInt(bitPattern: slot)).inserted)
            _ = try pool.slotIndex(of: slot)
            slots.append(slot)
        }
        #expect(throws: OffHeapError.capacityExhausted(capacity: pool.capacity)) { _ = try pool.allocate() }
        for slot in slots { try pool.deallocate(slot) }
    }

    @Test func everySlotIsHandedOutOnceAndComesBack() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 24, slotAlignment: 8, capacity: 300, magazineSize: 16))
        #expect(pool.stride == 24)
        try Self.drainAndRefill(pool)
        try Self.drainAndRefill(pool)
        let slot = try pool.allocate()
        slot.storeBytes(of: 0xDEAD_BEEF, toByteOffset: 16, as: UInt64.self)
        #expect(slot.load(fromByteOffset: 16, as: UInt64.self) == 0xDEAD_BEEF)
        try pool.deallocate(slot)
    }

    @Test func cacheHitsPerformNoSharedListOperation() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 64, capacity: 4096, magazineSize: 32, checking: .unchecked))
        // Touch every slot once first (a lazily growing list commits memory on demand, and
        // growth is a list operation too); this leaves the calling thread's magazine warm.
        try Self.drainAndRefill(pool)
        let before = pool.statistics
        #expect(before.cachedSlots > 0)
        // 10,000 pairs on a warm magazine: all hits, not one shared-list operation.
        for _ in 0..<10_000 {
            let slot = try pool.allocate()
            try pool.deallocate(slot)
        }
        var after = pool.statistics
        #expect(after.sharedListOperations == before.sharedListOperations)
        #expect(after.refills == before.refills && after.flushes == before.flushes)
        #expect(after.hits - before.hits == 20_000)
        #expect(after.misses == before.misses)
        // Bursts: 1,000 allocations then 1,000 frees move half magazines (16 slots) with one
        // CAS each; every shared-list operation is a counted refill or flush.
        var slots: [UnsafeMutableRawPointer] = []
        for _ in 0..<1_000 { slots.append(try pool.allocate()) }
        for slot in slots { try pool.deallocate(slot) }
        let burst = pool.statistics
        let operations = Int(burst.sharedListOperations &- after.sharedListOperations)
        let moves = Int((burst.refills - after.refills) + (burst.flushes - after.flushes))
        #expect(operations == moves)
        #expect(operations <= 2 * (1_000 / 16 + 2))
        #expect(operations >= 1_000 / 16)
        after = burst
        #expect(after.cachedSlots > 0 && after.cachedSlots <= 32)
    }

    @Test func badPointersAreTypedErrorsAndThePoolStaysUsable() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 48, slotAlignment: 16, capacity: 64, magazineSize: 8))
        let other = try ShardedFreeList(slotSize: 48, capacity: 8)
        let slot = try pool.allocate()
        let foreign = try other.allocate()
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(foreign) }
        #expect(throws: OffHeapError.foreignPointer) { try pool.deallocate(slot - 4096) }
        #expect(throws: OffHeapError.foreignPointer) {
            try pool.deallocate(slot + 48 * 64 + 4096)
        }
        #expect(throws: OffHeapError.misalignedPointer) { try pool.deallocate(slot + 1) }
        #expect(throws: OffHeapError.interiorPointer) { try pool.deallocate(slot + 16) }
        try pool.deallocate(slot)
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(slot) }
        // Never-allocated slot: also rejected as already free.
        let neverHandedOut = pool.base + 63 * pool.stride
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(neverHandedOut) }
        try other.deallocate(foreign)
        try Self.drainAndRefill(pool)
    }

    @Test func concurrentSequentialDoubleFreeAcrossThreadsIsDetected() throws {
        let pool = try ShardedFreeList(slotSize: 32, capacity: 1024)
        let words = ShardedTestWords(count: 8)
        let rejected = Atomic<Int>(0)
        // Thread i frees slot i, then thread (i+1) % 8 frees it again after a join: ordered,
        // so every second free must be refused.
        for index in 0..<8 { words[index] = UInt(bitPattern: try pool.allocate()) }
        try PlatformThread.run(count: 8) { index in
            try! pool.deallocate(UnsafeMutableRawPointer(bitPattern: words[index])!)
        }
        try PlatformThread.run(count: 8) { index in
            let slot = UnsafeMutableRawPointer(bitPattern: words[(index + 1) % 8])!
            do throws(OffHeapError) { try pool.deallocate(slot) } catch {
                if error == .doubleFree { rejected.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        #expect(rejected.load(ordering: .relaxed) == 8)
        try Self.drainAndRefill(pool)
    }

    @Test func aNewInstanceReusingAnIDStartsWithAnEmptyCache() throws {
        var reused = false
        for _ in 0..<8 {
            var first: ShardedFreeList? = try ShardedFreeList(
                configuration: .init(slotSize: 16, capacity: 64, magazineSize: 8))
            let id = first!.id
            let stamp = first!.stamp
            for _ in 0..<3 { try first!.deallocate(try first!.allocate()) }
            #expect(first!.statistics.cachedSlots == 4)
            first = nil
            // The lowest free row is taken: with no other pool created meanwhile, `id`.
            let second = try ShardedFreeList(
                configuration: .init(slotSize: 16, capacity: 64, magazineSize: 8))
            #expect(second.stamp != stamp || second.id != id)
            // This thread's column for `id` still holds 4 indices of the dead pool: they
            // must be neither counted nor handed out.
            #expect(second.statistics.cachedSlots == 0 && second.statistics.threadCaches == 0)
            let slot = try second.allocate()
            _ = try second.slotIndex(of: slot)
            #expect(second.statistics.misses == 1 && second.statistics.refills == 1)
            #expect(second.statistics.cachedSlots == 3)
            try second.deallocate(slot)
            if second.id == id { reused = true; break }
        }
        #expect(reused)
    }

    @Test func invalidConfigurationsAreRejected() {
        let bad: [ShardedFreeList.Configuration] = [
            .init(slotSize: 0, capacity: 10),
            .init(slotSize: 8, slotAlignment: 3, capacity: 10),
            .init(slotSize: 8, capacity: 0),
            .init(slotSize: 8, capacity: 10, magazineSize: 1),
            .init(slotSize: 8, capacity: 10, magazineSize: 129),
            .init(slotSize: 1 << 30, capacity: 1 << 30),
        ]
        for configuration in bad {
            #expect(throws: OffHeapError.self) {
                _ = try ShardedFreeList(configuration: configuration)
            }
        }
    }

    @Test func independentInstancesKeepSeparateCachesAndStats() throws {
        let first = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: 128, magazineSize: 8))
        let second = try ShardedFreeList(
            configuration: .init(slotSize: 16, capacity: 128, magazineSize: 8))
        #expect(first.id != second.id)
        var a: [UnsafeMutableRawPointer] = []
        var b: [UnsafeMutableRawPointer] = []
        for _ in 0..<5 {
            a.append(try first.allocate())
            b.append(try second.allocate())
        }
        for slot in a { #expect(throws: OffHeapError.foreignPointer) { try second.deallocate(slot) } }
        for slot in a { try first.deallocate(slot) }
        for slot in b { try second.deallocate(slot) }
        let firstStats = first.statistics
        let secondStats = second.statistics
        // Magazine 8, refills of 4: five allocations refill twice; five frees fit (3 + 5).
        #expect(firstStats.refills == 2 && secondStats.refills == 2)
        #expect(firstStats.misses == 2 && firstStats.hits == 8)
        #expect(firstStats.cachedSlots == 8 && firstStats.threadCaches == 1)
        #expect(secondStats.cachedSlots == 8 && secondStats.maximumThreadOccupancy == 8)
        try Self.drainAndRefill(first)
        try Self.drainAndRefill(second)
    }
}
