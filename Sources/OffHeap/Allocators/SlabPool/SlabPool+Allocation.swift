import Synchronization

extension SlabPool {
    /// A block of `byteCount` bytes aligned to `alignment`.
    ///
    /// Requests up to ``largeThreshold`` are bumped from the current slab (lock-free: one
    /// load and one compare-exchange when uncontended); larger ones get their own mapping.
    ///
    /// ```swift
    /// let header = try pool.allocate(byteCount: 48, alignment: 16)
    /// ```
    /// - Throws: ``OffHeapError/zeroSize`` for a size of 0,
    ///   ``OffHeapError/sizeTooLarge(requested:limit:)`` for a negative size or one above
    ///   ``maximumByteCount``,
    ///   ``OffHeapError/invalidAlignment(_:)`` unless a power of two up to
    ///   ``maximumAlignment``, ``OffHeapError/capacityExhausted(capacity:)`` when every slab is used (or the
    ///   large-block table is full), ``OffHeapError/concurrentReset`` while a reset runs,
    ///   ``OffHeapError/mappingFailed(errno:)`` when the kernel refuses memory.
    @inlinable
    public func allocate(
        byteCount: Int, alignment: Int = 16
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount != 0 else { throw .zeroSize }
        guard byteCount > 0, byteCount <= SlabPool.maximumByteCount else {
            throw .sizeTooLarge(requested: byteCount, limit: SlabPool.maximumByteCount)
        }
        guard alignment > 0, alignment & (alignment &- 1) == 0, alignment <= maximumAlignment
        else { throw .invalidAlignment(alignment) }
        if byteCount > largeThreshold {
            return try allocateLarge(byteCount: byteCount, alignment: alignment)
        }
        let mask = UInt64(alignment &- 1)
        let size = UInt64(byteCount)
        let limit = UInt64(slabSize)
        var current = cursor.load(ordering: .relaxed)
        while true {
            if current & SlabPool.resettingBit != 0 { throw .concurrentReset }
            let offset = current & SlabPool.offsetMask
            let index = Int((current >> SlabPool.offsetBits) & SlabPool.indexMask)
            let start = (offset &+ mask) & ~mask
            let end = start &+ size
            if end <= limit {
                let desired = (current & ~SlabPool.offsetMask) | end
                let (exchanged, original) = cursor.compareExchange(
                    expected: current, desired: desired,
                    successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
                if exchanged {
                    let block = slabBase(index) + Int(start)
                    Instrumentation.handedOut(block, byteCount: byteCount)
                    return block
                }
                current = original
            } else {
                guard
                    let retry = try advanceSlab(
                        from: current, index: index, offset: offset, size: size)
                else {
                    let block = slabBase(index &+ 1)
                    Instrumentation.handedOut(block, byteCount: byteCount)
                    return block
                }
                current = retry
            }
        }
    }

    /// The slow path of a slab allocation: the current slab is too full. Installs slab
    /// `index + 1` if needed and tries to move the cursor there with the block at its start.
    /// Returns `nil` when the block at the start of slab `index + 1` is the caller's;
    /// otherwise the cursor value to retry with.
    @usableFromInline
    internal func advanceSlab(
        from current: UInt64, index: Int, offset: UInt64, size: UInt64
    ) throws(OffHeapError) -> UInt64? {
        let next = index + 1
        guard next < maximumSlabs else { throw .capacityExhausted(capacity: maximumSlabs) }
        try installSlab(next)
        // A slab base is page-aligned and alignment ≤ page size: the block starts at 0.
        let desired =
            (current & ~(SlabPool.offsetMask | (SlabPool.indexMask << SlabPool.offsetBits)))
            | (UInt64(next) << SlabPool.offsetBits) | size
        let (exchanged, original) = cursor.compareExchange(
            expected: current, desired: desired,
            successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
        if exchanged {
            // The old slab's tail is nobody's until the next reset (this CAS retired it).
            Instrumentation.noAccess(
                slabBase(index) + Int(truncatingIfNeeded: offset),
                byteCount: slabSize &- Int(truncatingIfNeeded: offset))
            addRetiredTail(UInt64(slabSize) - offset, generation: current >> SlabPool.generationShift)
            return nil
        }
        return original
    }

    /// Adds a left-behind slab tail to the counter of `generation` (resetting bit included:
    /// it is clear for any cursor that allocated), unless a reset has moved on.
    internal func addRetiredTail(_ bytes: UInt64, generation: UInt64) {
        var current = retiredTails.load(ordering: .relaxed)
        while current >> SlabPool.generationShift == generation {
            let (exchanged, original) = retiredTails.compareExchange(
                expected: current, desired: current &+ bytes, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Makes slab `index` readable and writable if it is not yet (see the type's invariant:
    /// racing installers both `mprotect`, one compare-exchange on `committedSlabs` wins).
    @usableFromInline
    internal func installSlab(_ index: Int) throws(OffHeapError) {
        assert(index < maximumSlabs, "installing a slab beyond maximumSlabs")
        var committed = committedSlabs.load(ordering: .acquiring)
        assert(committed <= maximumSlabs, "more slabs installed than maximumSlabs")
        if index < committed { return }
        // The invariant gives `committed == index`; keep the prefix intact regardless.
        if committed < index { try installSlab(index - 1) }
        try VirtualMemory.commit(slabBase(index), byteCount: slabSize)
        committed = committedSlabs.load(ordering: .acquiring)
        while committed == index {
            let (exchanged, original) = committedSlabs.compareExchange(
                expected: committed, desired: committed + 1,
                successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
            if exchanged { return }
            committed = original
        }
    }
}
