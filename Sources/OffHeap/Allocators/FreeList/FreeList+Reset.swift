import Synchronization

extension FreeList {
    /// Makes every slot free again, keeping the mappings (and, with
    /// ``Configuration/decommitOnReset``, giving the pages back to the kernel).
    ///
    /// Not meant to run concurrently with other use of the pool. Misuse is detected, not
    /// silently corrupting, in both checking modes: reset first closes the free gate (no
    /// free may be between its epoch check and its push, nor a checked allocation between
    /// its pop and its state mark: those already inside are waited for, new ones throw
    /// ``OffHeapError/concurrentReset``), then takes `growLock`, swaps
    /// the head to a locked sentinel and bumps the epoch, so an overlapping
    /// allocate/deallocate either completes before the reset or throws
    /// ``OffHeapError/concurrentReset``; a second reset that overlaps throws
    /// ``OffHeapError/concurrentReset``. No free can write a link word into the rebuilt
    /// list, so no slot is handed to two owners (see FreeList+FreeGate.swift for the
    /// orderings). A pool found with a locked head and no reset running is poisoned
    /// (``needsReset``: every operation throws ``OffHeapError/concurrentReset``) and the
    /// next `reset()` cures it; with the gate this is a defence only. Pointers held across
    /// a reset are dangling:
    /// ``Slot`` handles always detect that with ``OffHeapError/useAfterReset``; a raw
    /// pointer freed after the reset is ``OffHeapError/useAfterReset`` in checked mode
    /// while its slot has not been allocated again, but once it has, the stale free frees
    /// the new owner's slot (nothing in a raw pointer tells the two owners apart).
    ///
    /// ```swift
    /// let a = try pool.allocate()
    /// try pool.reset()                 // `a` is free again
    /// #expect(pool.statistics.inUse == 0)
    /// ```
    public func reset() throws(OffHeapError) {
        // No free may be between its epoch check and its push while we rebuild (see
        // FreeList+FreeGate.swift); closed before `growLock`, so no free waits on us.
        guard closeFreeGate() else { throw .concurrentReset }
        var gateOpened = false
        defer { if !gateOpened { openFreeGate() } }
        // With the gate closed no other reset can hold `growLock`; a grower (value 1) holds
        // it for one slab commit and push, so wait for it rather than fail: frees that the
        // gate turned away were promised that this reset makes their slots free.
        while true {
            let (exchanged, holder) = growLock.pointee.compareExchange(
                expected: 0, desired: FreeList.growLockHeldByReset, ordering: .acquiring)
            if exchanged { break }
            if holder == FreeList.growLockHeldByReset { throw .concurrentReset }
            PlatformThread.yield()
        }
        defer { growLock.pointee.store(0, ordering: .releasing) }
        var current = Head(raw: head.pointee.load(ordering: .acquiring))
        while true {
            // Locked while we hold `growLock`: poisoned by a push that raced an earlier
            // reset (`poisonAfterStaleLinkWrite`). Rebuilding is exactly the cure.
            if current.index == Head.lockedIndex { break }
            let (exchanged, original) = head.pointee.compareExchange(
                expected: current.raw, desired: current.replacing(index: Head.lockedIndex).raw,
                ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = Head(raw: original)
        }
        let locked =
            current.index == Head.lockedIndex ? current : current.replacing(index: Head.lockedIndex)
        // Before the states are cleared (release), so an allocate whose state CAS reads a
        // cleared state also sees the new epoch (see `markAllocated`).
        epoch.pointee.add(1, ordering: .releasing)
        let count = Int(validSlots.pointee.load(ordering: .relaxed))
        if checked {
            for index in 0..<count {
                states[index].store(FreeList.stateFreedByReset, ordering: .releasing)
            }
        }
        if configuration.decommitOnReset && !region.hugeTLB {
            let bytes = min(
                Int(committedSlabs.pointee.load(ordering: .relaxed)) * geometry.slabSize,
                geometry.reservedBytes)
            if bytes > 0 {
                // Failure leaves the pages resident, which is still correct.
                try? VirtualMemory.decommit(base, byteCount: bytes, mode: .dontNeed)
            }
        }
        linkRun(0..<count, below: Head.emptyIndex, bottomDepth: 0)
        if Instrumentation.isEnabled {
            // Every block is free again: memcheck forgets the live ones (no leak, a later
            // free of one is invalid). ASan keeps its poison as it is: a reset may overlap
            // users that still write their slots (a documented misuse the tests provoke
            // on purpose), and poisoning under them would report the test, not the pool.
            Instrumentation.resetPool(region.base, byteCount: min(
                Int(committedSlabs.pointee.load(ordering: .relaxed)) * geometry.slabSize,
                geometry.reservedBytes))
        }
        peak.pointee.store(0, ordering: .relaxed)
        let top = count > 0 ? UInt32(0) : Head.emptyIndex
        // The gate opens before the head is published: a slot popped from the rebuilt list
        // can then always be freed. (Opened after, a free of such a slot in between would
        // be refused and the slot lost until the next reset.) A free that enters now and
        // still finds the head locked holds a pre-reset slot, which the rebuild relisted.
        openFreeGate()
        gateOpened = true
        head.pointee.store(locked.replacing(index: top).raw, ordering: .releasing)
    }

    /// `growLock`'s value while `reset()` holds it (a grower holds it with 1): a locked head
    /// is a running reset only while this value is there, otherwise it is poisoned.
    @usableFromInline internal static let growLockHeldByReset: UInt64 = 2

    /// The number of completed resets; ``Slot`` handles remember it.
    @inlinable
    public var resetEpoch: UInt64 { epoch.pointee.load(ordering: .acquiring) }
}
