import Synchronization

// Pointer validation (both modes) and the checked-mode slot state table.
extension FreeList {
    /// The index of the slot starting at `pointer`, or the precise reason it is not one.
    ///
    /// O(1) and exact: the slots are one contiguous run at `base + index * stride`.
    @inlinable
    internal func slotIndex(validating pointer: UnsafeRawPointer) throws(OffHeapError) -> UInt32 {
        try slotIndex(
            validating: pointer, published: validSlots.pointee.load(ordering: .relaxed))
    }

    /// As ``slotIndex(validating:)`` with the published-slot count loaded once by the
    /// caller (it only grows, so a slot valid then is valid now).
    @inlinable @inline(__always)
    internal func slotIndex(
        validating pointer: UnsafeRawPointer, published: UInt64
    ) throws(OffHeapError) -> UInt32 {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        guard offset < slotBytes else { throw .foreignPointer }
        guard offset & alignmentMask == 0 else { throw .misalignedPointer }
        let index = slotIndex(forOffset: offset)
        guard offset == index &* stride else { throw .interiorPointer }
        // Inside the reservation but never handed out (its slab is not published yet).
        guard UInt64(index) < published else { throw .foreignPointer }
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

    /// Checked mode: pops one slot and marks it allocated, both inside the free gate.
    ///
    /// Why the gate. Ungated, a pop could take slot X just before a `reset()` and reach
    /// its state CAS after the reset relisted X: the CAS (0 → 1 after a new owner freed X,
    /// or 2 → 1) then succeeds, and until the epoch check below undoes it, a thread that
    /// pops X from the rebuilt list finds it allocated in its own epoch and reports
    /// ``OffHeapError/freeListCorrupted`` for a list that is sound (and X is lost until the
    /// next reset). Inside the gate a reset waits for the pop and the mark to finish (the
    /// slot is then a pre-reset allocation, made free by the reset like every other), or
    /// the allocate backs out with ``OffHeapError/concurrentReset`` before popping. The
    /// gate is the same one frees use (FreeList+FreeGate.swift): one RMW pair on the head's
    /// cache line, which the pop's CAS takes exclusive anyway. Unchecked mode has no states
    /// and stays ungated.
    @inlinable @inline(__always)
    internal func popMarked() throws(OffHeapError) -> (first: UInt32, count: Int, epoch: UInt64) {
        try enterFreeGate()
        defer { leaveFreeGate() }
        let popped = try popChain(upTo: 1)
        try markAllocated(popped.first, epoch: popped.epoch)
        return popped
    }

    /// Checked mode, after a pop inside the free gate (``popMarked()``): marks slot `index`
    /// allocated (state 0 → 1).
    ///
    /// A listed slot always has a free state (0, or 2 after a reset). Should a `reset()`
    /// still overlap the pop (the gate rules it out; kept as a defence), the state is stale
    /// and the allocation is refused. The slot stays with the list (or is parked until the next reset), never
    /// handed out twice. A listed slot found *allocated* with no reset since the pop (the
    /// epoch unchanged) means the links are corrupted: ``OffHeapError/freeListCorrupted``.
    /// (A reset that made the slot someone else's bumped the epoch before that owner could
    /// pop it, and that owner's state CAS, read by ours, orders the bump before our load.)
    @inlinable
    internal func markAllocated(_ index: UInt32, epoch observed: UInt64) throws(OffHeapError) {
        var (exchanged, original) = states[Int(index)].compareExchange(
            expected: FreeList.stateFree, desired: FreeList.stateAllocated,
            ordering: .acquiringAndReleasing)
        if !exchanged && original == FreeList.stateFreedByReset {
            (exchanged, _) = states[Int(index)].compareExchange(
                expected: FreeList.stateFreedByReset, desired: FreeList.stateAllocated,
                ordering: .acquiringAndReleasing)
        }
        assert(original <= FreeList.stateFreedByReset, "a slot state outside free, allocated, freed by reset")
        guard exchanged else {
            if original == FreeList.stateAllocated
                && epoch.pointee.load(ordering: .relaxed) == observed
            {
                throw .freeListCorrupted
            }
            throw .concurrentReset
        }
        if epoch.pointee.load(ordering: .relaxed) != observed {
            // The reset cleared the states and relisted the slot: undo our mark. (A defence:
            // inside the gate no reset runs between our pop and here.)
            _ = states[Int(index)].compareExchange(expected: 1, desired: 0, ordering: .relaxed)
            throw .concurrentReset
        }
    }

    /// Checked mode, before a push: marks slot `index` free (state 1 → 0).
    ///
    /// - Throws: ``OffHeapError/useAfterReset`` when the slot is free because a `reset()`
    ///   freed it and nobody allocated it since (a pointer kept across the reset);
    ///   ``OffHeapError/doubleFree`` when it was freed by `deallocate` (or never allocated).
    ///   Nothing changed in either case.
    @inlinable
    internal func markFree(_ index: UInt32) throws(OffHeapError) {
        let (exchanged, original) = states[Int(index)].compareExchange(
            expected: FreeList.stateAllocated, desired: FreeList.stateFree,
            ordering: .acquiringAndReleasing)
        assert(original <= FreeList.stateFreedByReset, "a slot state outside free, allocated, freed by reset")
        guard exchanged else {
            throw original == FreeList.stateFreedByReset ? .useAfterReset : .doubleFree
        }
    }

    /// Checked-mode slot states: free (never allocated, or freed by `deallocate`),
    /// allocated, and free because `reset()` freed it while allocated or free (so a free of a
    /// pointer kept across a reset is told apart from a double free until the slot is
    /// allocated again; after that a stale raw pointer names the new owner's slot, which
    /// only ``Slot`` handles detect).
    @usableFromInline internal static var stateFree: UInt8 { 0 }
    @usableFromInline internal static var stateAllocated: UInt8 { 1 }
    @usableFromInline internal static var stateFreedByReset: UInt8 { 2 }

    /// Checked mode: whether slot `index` is currently allocated (for tests and stats).
    @inlinable
    internal func isAllocated(_ index: UInt32) -> Bool {
        states[Int(index)].load(ordering: .relaxed) == FreeList.stateAllocated
    }
}
