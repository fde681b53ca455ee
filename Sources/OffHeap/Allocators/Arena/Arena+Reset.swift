import Synchronization

extension Arena {
    /// Frees every block at once; the arena then allocates from its start again.
    ///
    /// The caller must have stopped using every block first: a reset cannot see who still
    /// holds a pointer. What it does guard against is *concurrent* misuse of the arena
    /// itself: while one reset runs, other resets and allocations fail with
    /// ``OffHeapError/concurrentReset`` and change nothing.
    ///
    /// ```swift
    /// try arena.reset(decommit: true)   // also give the touched pages back to the kernel
    /// ```
    /// - Parameter decommit: drop the physical pages of the used part (`MADV_DONTNEED`); the
    ///   next allocations read zeros and fault pages in again.
    /// - Throws: ``OffHeapError/concurrentReset`` when another reset is in progress,
    ///   ``OffHeapError/mappingFailed(errno:)`` when decommitting fails (the reset still
    ///   completes: every block is freed).
    public func reset(decommit: Bool = false) throws(OffHeapError) {
        try reset(decommit: decommit, whileExclusive: {})
    }

    /// ``reset(decommit:)`` that runs `body` while it holds the arena exclusively (the
    /// `resetting` bit set): tests use it to observe the guard deterministically.
    @_spi(Testing)
    public func reset(
        decommit: Bool, whileExclusive body: () -> Void
    ) throws(OffHeapError) {
        var current = state.load(ordering: .relaxed)
        while true {
            if current & Arena.resettingBit != 0 { throw .concurrentReset }
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: current | Arena.resettingBit,
                successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        // The region is ours until the release store below.
        body()
        let used = min(Int(current & Arena.offsetMask), capacity)
        // Every block of the ending generation is gone: inaccessible to memcheck and ASan
        // until handed out again (a use after reset is then an invalid access).
        Instrumentation.noAccess(region.base, byteCount: used)
        var failure: OffHeapError?
        if decommit && used > 0 {
            let length = min(VirtualMemory.roundUp(used, to: VirtualMemory.pageSize), capacity)
            do {
                try VirtualMemory.decommit(region.base, byteCount: length, mode: .dontNeed)
            } catch {
                failure = error
            }
        }
        var peak = earlierPeak.load(ordering: .relaxed)
        while used > peak {
            let (exchanged, original) = earlierPeak.compareExchange(
                expected: peak, desired: used, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        resetCount.wrappingAdd(1, ordering: .relaxed)
        let generation = ((current >> Arena.generationShift) &+ 1) & Arena.generationMask
        state.store(generation << Arena.generationShift, ordering: .releasing)
        if let failure { throw failure }
    }
}
