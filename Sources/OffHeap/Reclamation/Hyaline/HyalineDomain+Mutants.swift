#if OFFHEAP_MUTANTS
    import Synchronization

    // The Hyaline sites of ``Mutant/hyalineSlotHeadRelaxed`` (Support/Mutants.swift), compiled
    // only with `-DOFFHEAP_MUTANTS`; the call sites keep the original text in their `#else`.
    extension HyalineDomain {
        /// A reader's leave without a list: CAS `0 → inactive`, acquiring-and-releasing, or
        /// relaxed when the mutant is armed (the reader's accesses are then not released to
        /// a retirer that sees the slot inactive and frees without waiting for it).
        @inlinable @inline(__always)
        internal func mutantLeaveEmpty(slot: Int) -> Bool {
            if Mutants.isArmed(.hyalineSlotHeadRelaxed) {
                return slotWord(slot, Layout.slotHead).pointee.compareExchange(
                    expected: 0, desired: Layout.inactive, ordering: .relaxed
                ).exchanged
            }
            return slotWord(slot, Layout.slotHead).pointee.compareExchange(
                expected: 0, desired: Layout.inactive, ordering: .acquiringAndReleasing
            ).exchanged
        }

        /// A flush's load of a slot head: sequentially consistent, or relaxed when the
        /// mutant is armed (no acquire of the reader's leave).
        @inlinable @inline(__always)
        internal func mutantScanLoad(_ head: UnsafeMutablePointer<Atomic<UInt64>>) -> UInt64 {
            if Mutants.isArmed(.hyalineSlotHeadRelaxed) {
                return head.pointee.load(ordering: .relaxed)
            }
            return head.pointee.load(ordering: .sequentiallyConsistent)
        }
    }
#endif
