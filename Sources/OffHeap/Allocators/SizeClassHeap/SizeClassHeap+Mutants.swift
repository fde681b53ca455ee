#if OFFHEAP_MUTANTS
    // The SizeClassHeap site of ``Mutant/lostRemoteFree`` (Support/Mutants.swift), compiled
    // only with `-DOFFHEAP_MUTANTS`.
    extension SizeClassHeap {
        /// Whether a remote free drops its block (never pushed on the owner page's
        /// thread-free stack, so never collected): the first remote free after the mutant
        /// is armed, then every 64th.
        @inlinable @inline(__always)
        internal func mutantDropsRemoteFree() -> Bool {
            Mutants.isArmed(.lostRemoteFree) && Mutants.dropsRemoteFree()
        }
    }
#endif
