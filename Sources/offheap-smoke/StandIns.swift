import OffHeap
import Synchronization

// A minimal stand-in for FreeList, used until the real type lands on main;
// it exists so the aarch64 pipeline (cross build → link → QEMU, 4 threads) is exercised end
// to end now. It is deliberately simple, and is not part of the library.

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
