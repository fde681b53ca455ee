import Synchronization

extension FreeList {
    /// Makes every slot free again, keeping the mappings (and, with
    /// ``Configuration/decommitOnReset``, giving the pages back to the kernel).
    ///
    /// Not meant to run concurrently with other use of the pool. Misuse is detected, not
    /// silently corrupting: reset takes `growLock`, then swaps the head to a locked sentinel
    /// and bumps the epoch, so an overlapping allocate/deallocate either completes before
    /// the reset or throws ``OffHeapError/concurrentReset``; a second reset that overlaps
    /// throws ``OffHeapError/concurrentReset``. A push caught mid-way may leave the pool
    /// poisoned (``needsReset``: every operation throws ``OffHeapError/concurrentReset``);
    /// the next `reset()` cures that. One window stays open: a push that passed its epoch
    /// check before a *whole* reset ran and then stores its link word overwrites a link of
    /// the rebuilt list; until that push's CAS fails and it poisons the pool, concurrent
    /// pops may follow the stale link. In checked mode the slot-state CAS refuses the second
    /// hand-out of a slot (``OffHeapError/concurrentReset``), so no slot gets two owners;
    /// in unchecked mode a slot can be handed to two owners in that window (closing it would
    /// cost every push an atomic read-modify-write). Quiesce the pool before `reset()` when
    /// it is unchecked. Pointers held across a reset are dangling:
    /// ``Slot`` handles always detect that with ``OffHeapError/useAfterReset``; a raw
    /// pointer freed after the reset is ``OffHeapError/useAfterReset`` in checked mode
    /// while its slot has not been allocated again, but once it has, the stale free frees
    /// the new owner's slot (nothing in a raw pointer tells the two owners apart).
    ///
    /// ```swift
    /// let a = try pool.allocate()
    /// try pool.reset()                 // `a` is free again
    /// #expect(pool.stats.inUse == 0)
    /// ```
    public func reset() throws(OffHeapError) {
        // Instrumented builds: no free may be between its epoch check and its poison (see
        // FreeList+Instrumentation.swift); closed before `growLock`, so no free waits on us.
        if Instrumentation.isEnabled {
            guard closeFreeGate() else { throw .concurrentReset }
        }
        defer { if Instrumentation.isEnabled { openFreeGate() } }
        guard
            growLock.pointee.compareExchange(
                expected: 0, desired: FreeList.growLockHeldByReset, ordering: .acquiring
            ).exchanged
        else { throw .concurrentReset }
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
        head.pointee.store(locked.replacing(index: top).raw, ordering: .releasing)
    }

    /// `growLock`'s value while `reset()` holds it (a grower holds it with 1): a locked head
    /// is a running reset only while this value is there, otherwise it is poisoned.
    @usableFromInline internal static let growLockHeldByReset: UInt64 = 2

    /// The number of completed resets; ``Slot`` handles remember it.
    @inlinable
    public var resetEpoch: UInt64 { epoch.pointee.load(ordering: .acquiring) }
}
