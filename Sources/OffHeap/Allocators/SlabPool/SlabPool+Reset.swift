import COffHeapShims
import Synchronization

extension SlabPool {
    /// Returns a block.
    ///
    /// Large blocks (their own mapping) are unmapped now. Slab blocks are freed in bulk by
    /// ``reset(decommit:)``, so for them this is a validated no-op.
    ///
    /// ```swift
    /// let big = try pool.allocate(byteCount: 8 << 20)
    /// try pool.deallocate(big)
    /// ```
    /// - Throws: ``OffHeapError/foreignPointer`` for a pointer this pool never handed out,
    ///   ``OffHeapError/interiorPointer`` for a pointer inside a live large block,
    ///   ``OffHeapError/doubleFree`` for a large block already freed,
    ///   ``OffHeapError/useAfterReset`` for a large block released by a reset, or a slab
    ///   pointer at or beyond the bump cursor (no block of the current generation starts
    ///   there), ``OffHeapError/mappingFailed(errno:)`` if unmapping fails (nothing changes).
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        if let slab = slabIndex(of: pointer) {
            guard slab < committedSlabs.load(ordering: .acquiring) else { throw .foreignPointer }
            let current = cursor.load(ordering: .acquiring)
            let index = Int((current >> SlabPool.offsetBits) & SlabPool.indexMask)
            let offset = UInt64(pointer - slabBase(slab))
            if slab > index || (slab == index && offset >= current & SlabPool.offsetMask) {
                throw .useAfterReset
            }
            return
        }
        try deallocateLarge(UInt(bitPattern: pointer))
    }

    /// Frees every block at once. Slabs stay mapped and are reused in order, at the same
    /// addresses; large blocks are unmapped (a later `deallocate` of one is
    /// ``OffHeapError/useAfterReset``).
    ///
    /// The caller must have stopped using every block. Concurrent misuse of the pool itself
    /// is guarded: while a reset runs, other resets and allocations fail with
    /// ``OffHeapError/concurrentReset``.
    ///
    /// ```swift
    /// try pool.reset()                 // keep the pages for the next round
    /// try pool.reset(decommit: true)   // give the pages back (MADV_DONTNEED)
    /// ```
    /// - Throws: ``OffHeapError/concurrentReset``, or ``OffHeapError/mappingFailed(errno:)``
    ///   when unmapping or decommitting failed (the reset still completes).
    public func reset(decommit: Bool = false) throws(OffHeapError) {
        try reset(decommit: decommit, whileExclusive: {})
    }

    /// ``reset(decommit:)`` that runs `body` while it holds the pool exclusively; tests use
    /// it to observe the guard deterministically.
    @_spi(Testing)
    public func reset(decommit: Bool, whileExclusive body: () -> Void) throws(OffHeapError) {
        var current = cursor.load(ordering: .relaxed)
        while true {
            if current & SlabPool.resettingBit != 0 { throw .concurrentReset }
            let (exchanged, original) = cursor.compareExchange(
                expected: current, desired: current | SlabPool.resettingBit,
                successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        body()
        // Large allocations that began before `resetting` was set finish their insert first,
        // so the release below sees their blocks (see "Large blocks and reset").
        // Litmus: SB with allocateLarge: W resetting (CAS above); R in-flight here vs W in-flight;
        // R cursor there. seq_cst forbids both missing each other (a block released unseen).
        while largeAllocationsInFlight.load(ordering: .sequentiallyConsistent) != 0 {
            offheap_yield()
        }
        var failure = releaseAllLarge()
        let index = Int((current >> SlabPool.offsetBits) & SlabPool.indexMask)
        let reached = index > 0 || current & SlabPool.offsetMask > 0 ? index + 1 : 0
        let touched = max(touchedSlabs.load(ordering: .relaxed), reached)
        // Every small block of the ending generation is gone: the slabs it used become
        // inaccessible to memcheck and ASan until blocks are handed out again (the unused
        // tails of the next generation's slabs stay so).
        for slab in 0..<reached { Instrumentation.noAccess(slabBase(slab), byteCount: slabSize) }
        if decommit {
            if touched > 0 {
                do {
                    try VirtualMemory.decommit(
                        slabRegion.base, byteCount: touched * slabSize, mode: .dontNeed)
                } catch {
                    if failure == nil { failure = error }
                }
            }
            touchedSlabs.store(0, ordering: .relaxed)
        } else {
            touchedSlabs.store(touched, ordering: .relaxed)
        }
        resetCount.wrappingAdd(1, ordering: .relaxed)
        let generation = ((current >> SlabPool.generationShift) &+ 1) & SlabPool.generationMask
        retiredTails.store(generation << SlabPool.generationShift, ordering: .relaxed)
        cursor.store(generation << SlabPool.generationShift, ordering: .releasing)
        if let failure { throw failure }
    }
}
