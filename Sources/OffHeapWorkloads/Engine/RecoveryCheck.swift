import OffHeap

/// The exhaustion-and-recovery phase that ends every stress run, on one thread after all
/// workers joined: allocate until an exhaustion error (`isExhaustion`), check that every slot is distinct, aligned
/// and holds its own pattern (no two slots overlap), free them all, and do it again. A slot
/// leaked by a worker, stranded in an exited thread's cache, or lost by a racy free list
/// shows up as fewer slots than the allocator's capacity.
///
/// ```swift
/// let pool = try SystemAllocator(slotSize: 64, capacity: 128)
/// let outcome = RecoveryCheck.run(pool, expectedCapacity: 128, limit: 1 << 20)
/// assert(outcome.recovered == true)
/// ```
public enum RecoveryCheck {
    public struct Outcome: Equatable, Sendable {
        /// Slots obtained in the first and second pass.
        public var firstPass = 0
        public var secondPass = 0
        /// Whether the passes ended at an exhaustion error (`isExhaustion`) (not at the limit).
        public var reachedExhaustion = false
        /// Slots that overlapped, were misaligned or lost their pattern.
        public var corrupted = 0
        /// Typed errors other than an exhaustion error (`isExhaustion`).
        public var errors = 0
        /// `true` when both passes got the expected count (or, with no expectation, the same
        /// count ending at exhaustion) with no corruption or errors; `nil` when the allocator
        /// never ran out and no capacity was expected, so nothing could be checked.
        public var recovered: Bool?
    }

    /// - Parameter reclaim: called before each pass; allocators that free only in bulk
    ///   (`Arena`, `SlabPool`) reset here. Returns false when the reset failed (an error).
    /// - Parameter unbounded: the allocator grows on demand (`SizeClassHeap`): then both
    ///   passes must obtain exactly `limit` distinct, verified slots.
    public static func run<A: FixedSizeAllocator>(
        _ allocator: A, expectedCapacity: Int?, limit: Int, unbounded: Bool = false,
        reclaim: () -> Bool = { true }
    ) -> Outcome {
        var outcome = Outcome()
        if !reclaim() { outcome.errors += 1 }
        let bound = min(limit, expectedCapacity.map { $0 + 1 } ?? limit)
        var slots: [UInt] = []
        slots.reserveCapacity(min(bound, 1 << 20))
        let first = pass(allocator, bound: bound, slots: &slots, outcome: &outcome)
        outcome.firstPass = slots.count
        let firstExhausted = first
        checkAndFree(allocator, slots: &slots, outcome: &outcome)
        if !reclaim() { outcome.errors += 1 }
        let second = pass(allocator, bound: bound, slots: &slots, outcome: &outcome)
        outcome.secondPass = slots.count
        checkAndFree(allocator, slots: &slots, outcome: &outcome)
        if !reclaim() { outcome.errors += 1 }
        outcome.reachedExhaustion = firstExhausted && second
        let clean = outcome.corrupted == 0 && outcome.errors == 0
        if unbounded {
            outcome.recovered = clean && outcome.firstPass == limit && outcome.secondPass == limit
        } else if let expected = expectedCapacity {
            outcome.recovered = clean && outcome.firstPass == expected
                && outcome.secondPass == expected
        } else if outcome.reachedExhaustion {
            outcome.recovered = clean && outcome.firstPass == outcome.secondPass
                && outcome.firstPass > 0
        } else {
            outcome.recovered = nil
        }
        return outcome
    }

    /// Allocates until an exhaustion error, `isExhaustion`, (returns true) or `bound` slots (returns false).
    static func pass<A: FixedSizeAllocator>(
        _ allocator: A, bound: Int, slots: inout [UInt], outcome: inout Outcome
    ) -> Bool {
        var failures = 0
        while slots.count < bound {
            do throws(OffHeapError) {
                let p = try allocator.allocate()
                slots.append(UInt(bitPattern: p))
            } catch {
                if error.isExhaustion { return true }
                outcome.errors += 1
                failures += 1
                if failures > 16 { return false }
            }
        }
        return false
    }

    /// Checks alignment, distinctness and patterns, then frees every slot.
    static func checkAndFree<A: FixedSizeAllocator>(
        _ allocator: A, slots: inout [UInt], outcome: inout Outcome
    ) {
        let size = allocator.slotSize
        let alignment = UInt(max(allocator.slotAlignment, 1))
        for (index, address) in slots.enumerated() {
            if address % alignment != 0 { outcome.corrupted += 1 }
            SlotPattern(slot: UInt64(index), owner: .max, generation: 0)
                .write(to: UnsafeMutableRawPointer(bitPattern: address)!, byteCount: size)
        }
        for (index, address) in slots.enumerated() {
            let pattern = SlotPattern(slot: UInt64(index), owner: .max, generation: 0)
            if !pattern.matches(UnsafeRawPointer(bitPattern: address)!, byteCount: size) {
                outcome.corrupted += 1
            }
        }
        var sorted = slots
        sorted.sort()
        if sorted.count > 1 {
            for index in 1..<sorted.count where sorted[index] - sorted[index - 1] < UInt(size) {
                outcome.corrupted += 1
            }
        }
        for address in slots {
            do throws(OffHeapError) {
                try allocator.deallocate(UnsafeMutableRawPointer(bitPattern: address)!)
            } catch {
                outcome.errors += 1
            }
        }
        slots.removeAll(keepingCapacity: true)
    }
}
