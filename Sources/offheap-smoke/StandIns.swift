import OffHeap
import Synchronization

// Minimal stand-ins for FreeList, Arena and SlabPool, used until the real types land on main;
// they exist so the aarch64 pipeline (cross build → link → QEMU, 4 threads) is exercised end
// to end now. They are deliberately simple, and are not part of the library.

/// A lock-free pool of fixed-size slots (a Treiber stack of slot indices).
///
/// Invariant: `head` packs a 32-bit generation tag over a 32-bit (index + 1) of the top free
/// slot (0 = empty); every successful CAS bumps the tag, so a stale head cannot be installed
/// (no ABA, and no spare pointer bits are used). `next[i]` is only meaningful while slot `i`
/// is free. `state[i]` is 0 (free) or 1 (allocated) and is flipped by CAS before a slot is
/// pushed and after it is popped, which turns a double free into a typed error. A push
/// publishes the slot with a releasing CAS; a pop acquires it.
///
/// `@unchecked Sendable`: all shared state is in the mapping and accessed atomically.
final class StandInSlotPool: FixedSizeAllocator, @unchecked Sendable {
    let slotSize: Int
    let slotAlignment: Int
    let capacity: Int
    private let stride: Int
    private let slots: VirtualRegion
    private let metadata: VirtualRegion
    private let next: UnsafeMutablePointer<Atomic<UInt64>>
    private let state: UnsafeMutablePointer<Atomic<UInt64>>
    private let head = Atomic<UInt64>(0)

    init(slotSize: Int, alignment: Int, capacity: Int) throws(OffHeapError) {
        guard slotSize > 0, capacity > 0, capacity < 1 << 31 else {
            throw .invalidConfiguration(reason: "slotSize and capacity must be positive")
        }
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw .invalidAlignment(alignment)
        }
        self.slotSize = slotSize
        self.slotAlignment = alignment
        self.capacity = capacity
        stride = VirtualMemory.roundUp(slotSize, to: alignment)
        slots = try VirtualMemory.reserve(byteCount: stride * capacity, committed: true)
        let cell = MemoryLayout<Atomic<UInt64>>.stride
        do throws(OffHeapError) {
            metadata = try VirtualMemory.reserve(byteCount: 2 * cell * capacity, committed: true)
        } catch {
            _ = try? VirtualMemory.release(slots)
            throw error
        }
        next = metadata.base.bindMemory(to: Atomic<UInt64>.self, capacity: 2 * capacity)
        state = next + capacity
        for index in 0..<capacity {
            (next + index).initialize(to: Atomic(index + 1 < capacity ? UInt64(index + 2) : 0))
            (state + index).initialize(to: Atomic(0))
        }
        head.store(1, ordering: .releasing)
    }

    deinit {
        _ = try? VirtualMemory.release(slots)
        _ = try? VirtualMemory.release(metadata)
    }

    func owns(_ pointer: UnsafeRawPointer) -> Bool { slots.contains(pointer) }

    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        var old = head.load(ordering: .acquiring)
        while true {
            let top = old & 0xFFFF_FFFF
            guard top != 0 else { throw .exhausted }
            let index = Int(top - 1)
            let new = ((old >> 32) &+ 1) << 32 | next[index].load(ordering: .relaxed)
            let (exchanged, current) = head.compareExchange(
                expected: old, desired: new, ordering: .acquiringAndReleasing)
            if exchanged {
                state[index].store(1, ordering: .relaxed)
                return slots.base + index * stride
            }
            old = current
        }
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        guard slots.contains(pointer) else { throw .foreignPointer }
        let offset = pointer - slots.base
        guard offset % stride == 0 else {
            throw offset % slotAlignment == 0 ? .interiorPointer : .misalignedPointer
        }
        let index = offset / stride
        guard state[index].compareExchange(expected: 1, desired: 0, ordering: .relaxed).exchanged
        else { throw .doubleFree }
        var old = head.load(ordering: .relaxed)
        while true {
            next[index].store(old & 0xFFFF_FFFF, ordering: .relaxed)
            let new = ((old >> 32) &+ 1) << 32 | UInt64(index + 1)
            let (exchanged, current) = head.compareExchange(
                expected: old, desired: new, successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { return }
            old = current
        }
    }
}

/// A bump arena: one atomic offset into a committed mapping.
///
/// Invariant: `offset` only grows between resets, by CAS, so concurrent allocations get
/// disjoint ranges; `reset()` must not race with allocations (callers separate them).
final class StandInArena: VariableSizeAllocator, @unchecked Sendable {
    let capacity: Int
    private let region: VirtualRegion
    private let offset = Atomic<Int>(0)

    init(capacity: Int) throws(OffHeapError) {
        self.capacity = capacity
        region = try VirtualMemory.reserve(byteCount: capacity, committed: true)
    }

    deinit { _ = try? VirtualMemory.release(region) }

    func allocate(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount > 0 else { throw .zeroSize }
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= VirtualMemory.pageSize
        else { throw .invalidAlignment(alignment) }
        guard byteCount <= capacity else { throw .sizeTooLarge(requested: byteCount, limit: capacity) }
        var old = offset.load(ordering: .relaxed)
        while true {
            let start = VirtualMemory.roundUp(old, to: alignment)
            guard start + byteCount <= capacity else { throw .exhausted }
            let (exchanged, current) = offset.compareExchange(
                expected: old, desired: start + byteCount, ordering: .relaxed)
            if exchanged { return region.base + start }
            old = current
        }
    }

    /// A no-op for blocks of the current generation; a pointer at or past the bump offset
    /// can only be a block from before a reset.
    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        guard region.contains(pointer) else { throw .foreignPointer }
        guard pointer - region.base < offset.load(ordering: .relaxed) else { throw .useAfterReset }
    }

    func reset() { offset.store(0, ordering: .relaxed) }
}

/// A slab pool: one ``StandInSlotPool`` per size class (64, 256, 1024 bytes, 64-aligned).
///
/// Invariant: a block belongs to the class whose mapping contains it; classes are fixed at
/// construction, so routing a free needs no synchronisation beyond the class's own.
final class StandInSlabPool: VariableSizeAllocator, @unchecked Sendable {
    private let classes: [StandInSlotPool]

    init(blocksPerClass: Int) throws(OffHeapError) {
        var classes: [StandInSlotPool] = []
        for size in [64, 256, 1024] {
            classes.append(try StandInSlotPool(slotSize: size, alignment: 64, capacity: blocksPerClass))
        }
        self.classes = classes
    }

    func allocate(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount > 0 else { throw .zeroSize }
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 64 else {
            throw .invalidAlignment(alignment)
        }
        for pool in classes where byteCount <= pool.slotSize { return try pool.allocate() }
        throw .sizeTooLarge(requested: byteCount, limit: 1024)
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        for pool in classes where pool.owns(pointer) { return try pool.deallocate(pointer) }
        throw .foreignPointer
    }
}
