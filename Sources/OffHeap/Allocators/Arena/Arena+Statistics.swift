import Synchronization

extension Arena {
    /// A snapshot of an arena's counters.
    ///
    /// ```swift
    /// let stats = arena.statistics
    /// print("\(stats.used) of \(stats.capacity) bytes, peak \(stats.peak)")
    /// ```
    @frozen
    public struct Statistics: Sendable, Equatable {
        /// Usable bytes.
        public var capacity: Int
        /// Bytes consumed in the current generation, alignment padding included.
        public var used: Int
        /// Highest `used` of any generation so far.
        public var peak: Int
        /// Completed resets.
        public var resets: Int

        /// Creates statistics with the given counters.
        @inlinable
        package init(capacity: Int, used: Int, peak: Int, resets: Int) {
            self.capacity = capacity
            self.used = used
            self.peak = peak
            self.resets = resets
        }
    }

    /// Current counters (each read atomically; the set is not one atomic snapshot).
    public var statistics: Statistics {
        let used = self.used
        return Statistics(
            capacity: capacity, used: used,
            peak: max(used, earlierPeak.load(ordering: .relaxed)),
            resets: resetCount.load(ordering: .relaxed))
    }

    /// Bytes consumed in the current generation, alignment padding included.
    @inlinable
    public var used: Int {
        // A failed fast-path request may leave the offset briefly beyond `capacity`.
        min(Int(state.load(ordering: .relaxed) & Arena.offsetMask), capacity)
    }

    /// Bytes still free (an aligned request may get fewer).
    @inlinable
    public var remaining: Int { capacity - used }

    /// The current generation (advances by one per reset, modulo 2^15). A caller can record
    /// it next to its pointers and compare later to detect blocks that predate a reset.
    @inlinable
    public var generation: Int {
        Int((state.load(ordering: .relaxed) >> Arena.generationShift) & Arena.generationMask)
    }
}
