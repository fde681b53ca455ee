#if OFFHEAP_MUTANTS
    import Synchronization

    // The FreeList sites of the build-time mutants (Support/Mutants.swift), compiled only with
    // `-DOFFHEAP_MUTANTS`. Each helper does the original operation unless its mutant is armed;
    // FreeList+Stack.swift calls them under `#if OFFHEAP_MUTANTS` and keeps the original text
    // in the `#else` branch, so a build without the condition is unchanged.
    extension FreeList {
        /// Pop's first head load: acquiring, or relaxed under ``Mutant/freeListHeadRelaxed``.
        @inlinable @inline(__always)
        internal func mutantHeadLoad() -> UInt64 {
            if Mutants.isArmed(.freeListHeadRelaxed) {
                return head.pointee.load(ordering: .relaxed)
            }
            return head.pointee.load(ordering: .acquiring)
        }

        /// Pop's head CAS: acquiring-and-releasing (failure: acquiring), or relaxed under
        /// ``Mutant/freeListHeadRelaxed``.
        @inlinable @inline(__always)
        internal func mutantPopExchange(
            expected: UInt64, desired: UInt64
        ) -> (exchanged: Bool, original: UInt64) {
            if Mutants.isArmed(.freeListHeadRelaxed) {
                return head.pointee.compareExchange(
                    expected: expected, desired: desired, ordering: .relaxed)
            }
            return head.pointee.compareExchange(
                expected: expected, desired: desired,
                successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
        }

        /// Push's head CAS: releasing (failure: acquiring), or relaxed under
        /// ``Mutant/freeListHeadRelaxed``: the pushed slot's contents (and its link) are then
        /// not published to the thread that pops it.
        @inlinable @inline(__always)
        internal func mutantPushExchange(
            expected: UInt64, desired: UInt64
        ) -> (exchanged: Bool, original: UInt64) {
            if Mutants.isArmed(.freeListHeadRelaxed) {
                return head.pointee.compareExchange(
                    expected: expected, desired: desired, ordering: .relaxed)
            }
            return head.pointee.compareExchange(
                expected: expected, desired: desired,
                successOrdering: .releasing, failureOrdering: .acquiring)
        }

        /// The `next` a push links its last slot to: `top`, or under
        /// ``Mutant/corruptFreeListLink`` the top's neighbour `top ^ 1` (when that is a slot
        /// index below the capacity; the empty and locked sentinels stay).
        @inlinable @inline(__always)
        internal func mutantLinkTarget(_ top: UInt32) -> UInt32 {
            guard Mutants.isArmed(.corruptFreeListLink), top < Head.lockedIndex,
                Int(top ^ 1) < geometry.capacity
            else { return top }
            return top ^ 1
        }
    }
#endif
