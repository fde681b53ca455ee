import Synchronization

// Pointer validation (both modes) and the checked-mode slot state table.
extension FreeList {
    /// The index of the slot starting at `pointer`, or the precise reason it is not one.
    ///
    /// O(1) and exact: the slots are one contiguous run at `base + index * stride`.
    @inlinable
    internal func slotIndex(validating pointer: UnsafeRawPointer) throws(OffHeapError) -> UInt32 {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        guard offset < slotBytes else { throw .foreignPointer }
        guard offset & alignmentMask == 0 else { throw .misalignedPointer }
        let index = slotIndex(forOffset: offset)
        guard offset == index &* stride else { throw .interiorPointer }
        // Inside the reservation but never handed out (its slab is not published yet).
        guard UInt64(index) < validSlots.pointee.load(ordering: .relaxed) else {
            throw .foreignPointer
        }
        return UInt32(truncatingIfNeeded: index)
    }

    /// `offset / stride` for `offset < capacity * stride`.
    ///
    /// A power-of-two stride shifts. Otherwise, with `m = ⌊2⁶⁴/d⌋ + 1 = 2⁶⁴/d + e`
    /// (0 < e ≤ 1), `⌊offset·m / 2⁶⁴⌋ = ⌊offset/d + offset·e/2⁶⁴⌋`, which equals
    /// `⌊offset/d⌋` whenever `offset·d < 2⁶⁴` (the error stays below `1/d`). `init` keeps
    /// the reciprocal only when `capacity·stride·stride < 2⁶⁴`, else it divides.
    @inlinable @inline(__always)
    internal func slotIndex(forOffset offset: UInt) -> UInt {
        if strideShift >= 0 { return offset &>> UInt(strideShift) }
        if reciprocal != 0 {
            return UInt(UInt64(offset).multipliedFullWidth(by: reciprocal).high)
        }
        return offset / stride
    }

    /// Checked mode, after a pop: marks slot `index` allocated (state 0 → 1).
    ///
    /// A listed slot always has state 0, except when a `reset()` overlapped an allocate
    /// that popped the slot before the reset: then the state is stale and the allocation
    /// is refused. The slot stays with the list (or is parked until the next reset), never
    /// handed out twice.
    @inlinable
    internal func markAllocated(_ index: UInt32, epoch observed: UInt64) throws(OffHeapError) {
        let (exchanged, _) = states[Int(index)].compareExchange(
            expected: 0, desired: 1, ordering: .acquiringAndReleasing)
        guard exchanged else { throw .concurrentReset }
        if epoch.pointee.load(ordering: .relaxed) != observed {
            // The reset cleared the states and relisted the slot: undo our mark.
            _ = states[Int(index)].compareExchange(expected: 1, desired: 0, ordering: .relaxed)
            throw .concurrentReset
        }
    }

    /// Checked mode, before a push: marks slot `index` free (state 1 → 0).
    ///
    /// - Throws: ``OffHeapError/doubleFree`` when the slot is already free; nothing changed.
    @inlinable
    internal func markFree(_ index: UInt32) throws(OffHeapError) {
        let (exchanged, _) = states[Int(index)].compareExchange(
            expected: 1, desired: 0, ordering: .acquiringAndReleasing)
        guard exchanged else { throw .doubleFree }
    }

    /// Checked mode: whether slot `index` is currently allocated (for tests and stats).
    @inlinable
    internal func isAllocated(_ index: UInt32) -> Bool {
        states[Int(index)].load(ordering: .relaxed) == 1
    }
}
