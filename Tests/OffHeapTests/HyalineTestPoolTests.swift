import OffHeap
import Synchronization
import Testing

/// A small lock-free fixed-size pool for the Hyaline and structure tests (until FreeList
/// lands): an mmap region of `capacity` slots, a Treiber stack of slot indices whose head
/// packs `(tag << 32) | (index + 1)`, and a per-slot state word that turns a double free
/// into `.doubleFree` instead of corruption.
final class TestSlotPool: FixedSizeAllocator, @unchecked Sendable {
    // @unchecked Sendable: shared state is the off-heap region, accessed through atomics.
    let slotSize: Int
    let slotAlignment = 16
    let capacity: Int
    let region: VirtualRegion
    private let control: VirtualRegion
    private let inUse = Atomic<Int>(0)
    private var head: UnsafeMutablePointer<Atomic<UInt64>> {
        control.base.assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    private var states: UnsafeMutablePointer<Atomic<UInt64>> {
        (control.base + 64).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    private var nexts: UnsafeMutablePointer<Atomic<UInt64>> {
        (control.base + 64 + capacity * 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    init(slotSize: Int, capacity: Int) throws {
        self.slotSize = (slotSize + 15) & ~15
        self.capacity = capacity
        region = try VirtualMemory.reserve(byteCount: self.slotSize * capacity, committed: true)
        control = try VirtualMemory.reserve(byteCount: 64 + capacity * 16, committed: true)
        head.initialize(to: Atomic(0))
        for index in 0..<capacity {
            states.advanced(by: index).initialize(to: Atomic(1))
            nexts.advanced(by: index).initialize(to: Atomic(0))
        }
        for index in 0..<capacity { try deallocate(region.base + index * self.slotSize) }
        inUse.store(0, ordering: .relaxed)
    }

    deinit {
        try? VirtualMemory.release(region)
        try? VirtualMemory.release(control)
    }

    func contains(_ pointer: UnsafeRawPointer) -> Bool { region.contains(pointer) }

    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        var old = head.pointee.load(ordering: .acquiring)
        while true {
            let ref = old & 0xFFFF_FFFF
            guard ref != 0 else { throw .capacityExhausted(capacity: capacity) }
            let next = nexts[Int(ref - 1)].load(ordering: .relaxed)
            let (done, seen) = head.pointee.compareExchange(
                expected: old, desired: ((old >> 32) &+ 1) << 32 | next,
                ordering: .acquiringAndReleasing)
            if done {
                states[Int(ref - 1)].store(1, ordering: .relaxed)
                inUse.add(1, ordering: .relaxed)
                return region.base + Int(ref - 1) * slotSize
            }
            old = seen
        }
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        guard region.contains(pointer) else { throw .foreignPointer }
        let offset = pointer - region.base
        guard offset % slotSize == 0 else { throw .interiorPointer }
        let index = offset / slotSize
        let (wasAllocated, _) = states[index].compareExchange(
            expected: 1, desired: 0, ordering: .relaxed)
        guard wasAllocated else { throw .doubleFree }
        inUse.subtract(1, ordering: .relaxed)
        var old = head.pointee.load(ordering: .relaxed)
        while true {
            nexts[index].store(old & 0xFFFF_FFFF, ordering: .relaxed)
            let (done, seen) = head.pointee.compareExchange(
                expected: old, desired: ((old >> 32) &+ 1) << 32 | UInt64(index + 1),
                ordering: .acquiringAndReleasing)
            if done { return }
            old = seen
        }
    }

    /// Slots currently allocated.
    var allocatedCount: Int { inUse.load(ordering: .relaxed) }
}

/// Poisons every node before returning it to the pool, so a reader that touches a
/// reclaimed node sees the poison (and TSan sees the write).
final class PoisoningReclaimer: HyalineReclaimer, @unchecked Sendable {
    // @unchecked Sendable: immutable after init; counters are atomic.
    let pool: TestSlotPool
    let reclaimedCount = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)
    static let poison: UInt64 = 0xDEAD_BEEF_DEAD_BEEF

    init(_ pool: TestSlotPool) { self.pool = pool }

    override func contains(_ pointer: UnsafeMutableRawPointer) -> Bool { pool.contains(pointer) }

    override func reclaim(_ pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: Self.poison, as: UInt64.self)
        pointer.storeBytes(of: Self.poison, toByteOffset: 8, as: UInt64.self)
        reclaimedCount.add(1, ordering: .relaxed)
        do { try pool.deallocate(pointer) } catch { rejected.add(1, ordering: .relaxed) }
    }

    override var freeFraction: Double {
        1 - Double(pool.allocatedCount) / Double(pool.capacity)
    }
}

@Suite("TestSlotPool")
struct TestSlotPoolTests {
    @Test func poolRejectsDoubleAndForeignFrees() throws {
        let pool = try TestSlotPool(slotSize: 32, capacity: 4)
        let slots = try (0..<4).map { _ in try pool.allocate() }
        #expect(Set(slots).count == 4)
        #expect(throws: OffHeapError.capacityExhausted(capacity: 4)) { _ = try pool.allocate() }
        try pool.deallocate(slots[0])
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(slots[0]) }
        #expect(throws: OffHeapError.interiorPointer) { try pool.deallocate(slots[1] + 8) }
        #expect(pool.allocatedCount == 3)
        #expect(try pool.allocate() == slots[0])
    }
}
