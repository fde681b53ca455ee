import OffHeap
import OffHeapWorkloads
import Synchronization

/// Test allocators that misbehave on purpose, wrapping a bounded SystemAllocator.

/// Every `period`-th allocation hands out the previous slot again (it is still live), so
/// two owners share a slot; the duplicate's free is swallowed so the base never sees a
/// double free. Single-threaded tests only.
final class DuplicatingAllocator: FixedSizeAllocator, @unchecked Sendable {
    // @unchecked Sendable: used by one thread at a time (single-threaded tests).
    let base: SystemAllocator
    let period: Int
    var count = 0
    var last: UnsafeMutableRawPointer?
    var duplicates: [UnsafeMutableRawPointer] = []
    var slotSize: Int { base.slotSize }
    var slotAlignment: Int { base.slotAlignment }
    var capacity: Int { base.capacity }
    func contains(_ pointer: UnsafeRawPointer) -> Bool { base.contains(pointer) }

    init(base: SystemAllocator, period: Int) {
        self.base = base
        self.period = period
    }

    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        count += 1
        if count % period == 0, let last {
            duplicates.append(last)
            return last
        }
        let p = try base.allocate()
        last = p
        return p
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        if let index = duplicates.firstIndex(of: pointer) {
            duplicates.remove(at: index)
            return
        }
        if pointer == last { last = nil }
        try base.deallocate(pointer)
    }
}

/// Drops (leaks) every `period`-th free: the slot never returns to the base allocator while
/// the test runs. The dropped slots are remembered and given back in `deinit`, so the leak is
/// visible to the recovery check but not to LeakSanitizer.
final class LeakingAllocator: FixedSizeAllocator, @unchecked Sendable {
    // @unchecked Sendable: the counters are atomic; each dropped slot is recorded at an index
    // claimed by one thread; `deinit` reads them after every worker joined.
    let base: SystemAllocator
    let period: Int
    let frees = Atomic<Int>(0)
    let droppedCount = Atomic<Int>(0)
    private let droppedCapacity = 1 << 16
    private let dropped: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var slotSize: Int { base.slotSize }
    var slotAlignment: Int { base.slotAlignment }
    var capacity: Int { base.capacity }
    func contains(_ pointer: UnsafeRawPointer) -> Bool { base.contains(pointer) }

    init(base: SystemAllocator, period: Int) {
        self.base = base
        self.period = period
        dropped = .allocate(capacity: droppedCapacity)
        dropped.initialize(repeating: nil, count: droppedCapacity)
    }

    deinit {
        for index in 0..<min(droppedCount.load(ordering: .acquiring), droppedCapacity) {
            if let pointer = dropped[index] { try? base.deallocate(pointer) }
        }
        dropped.deallocate()
    }

    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer { try base.allocate() }

    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        let n = frees.add(1, ordering: .relaxed).newValue
        if n % period == 0 {
            let slot = droppedCount.add(1, ordering: .relaxed).oldValue
            if slot < droppedCapacity {
                dropped[slot] = pointer
                return
            }
        }
        try base.deallocate(pointer)
    }
}

/// Hands out slots that overlap: slot i starts 8 bytes after slot i-1 inside one buffer.
final class OverlappingAllocator: FixedSizeAllocator, @unchecked Sendable {
    // @unchecked Sendable: single-threaded tests only.
    let buffer: UnsafeMutableRawPointer
    let capacity: Int
    var next = 0
    var live = 0
    let slotSize = 64
    let slotAlignment = 8
    func contains(_ pointer: UnsafeRawPointer) -> Bool {
        pointer >= UnsafeRawPointer(buffer) && pointer < UnsafeRawPointer(buffer + capacity * 8 + 64)
    }

    init(capacity: Int) {
        self.capacity = capacity
        buffer = .allocate(byteCount: capacity * 8 + 64, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard live < capacity else { throw .capacityExhausted(capacity: capacity) }
        let p = buffer + (next % capacity) * 8
        next += 1
        live += 1
        return p
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        live -= 1
        if live == 0 { next = 0 }
    }
}
