import Synchronization

extension SlabPool {
    /// A snapshot of a pool's counters.
    ///
    /// ```swift
    /// let stats = pool.statistics
    /// print("\(stats.usedBytes) used in \(stats.slabs) slabs")
    /// ```
    @frozen
    public struct Statistics: Sendable, Equatable {
        /// Installed slabs (kept across resets).
        public var slabs: Int
        /// Address space mapped readable and writable: installed slabs plus large blocks.
        public var reservedBytes: Int
        /// Bytes that may hold physical pages: slabs reached since the last decommitting
        /// reset, plus large blocks.
        public var committedBytes: Int
        /// Bytes handed out in this generation (alignment padding included) plus large
        /// blocks (rounded to pages).
        public var usedBytes: Int
        /// Live large blocks.
        public var largeAllocations: Int
        /// Completed resets.
        public var resets: Int

        /// Creates statistics with the given counters.
        @inlinable
        package init(
            slabs: Int, reservedBytes: Int, committedBytes: Int, usedBytes: Int,
            largeAllocations: Int, resets: Int
        ) {
            self.slabs = slabs
            self.reservedBytes = reservedBytes
            self.committedBytes = committedBytes
            self.usedBytes = usedBytes
            self.largeAllocations = largeAllocations
            self.resets = resets
        }
    }

    /// Current counters (each read atomically; exact when the pool is quiescent).
    public var statistics: Statistics {
        let current = cursor.load(ordering: .acquiring)
        let index = Int((current >> SlabPool.offsetBits) & SlabPool.indexMask)
        let offset = Int(current & SlabPool.offsetMask)
        let slabs = committedSlabs.load(ordering: .acquiring)
        let largeBytes = liveLargeBytes.load(ordering: .relaxed)
        let reached = index > 0 || offset > 0 ? index + 1 : 0
        let touched = max(touchedSlabs.load(ordering: .relaxed), reached)
        let tails = retiredTails.load(ordering: .relaxed)
        let retired =
            tails >> SlabPool.generationShift == current >> SlabPool.generationShift
            ? Int(tails & ((1 << SlabPool.generationShift) - 1)) : 0
        let slabUsed = max(index * slabSize + offset - retired, 0)
        return Statistics(
            slabs: slabs,
            reservedBytes: slabs * slabSize + largeBytes,
            committedBytes: touched * slabSize + largeBytes,
            usedBytes: slabUsed + largeBytes,
            largeAllocations: liveLargeCount.load(ordering: .relaxed),
            resets: resetCount.load(ordering: .relaxed))
    }

    /// The current generation (advances by one per reset, modulo 128).
    public var generation: Int {
        Int((cursor.load(ordering: .relaxed) >> SlabPool.generationShift) & SlabPool.generationMask)
    }
}
