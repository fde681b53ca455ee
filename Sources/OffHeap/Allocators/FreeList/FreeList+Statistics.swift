import Synchronization

extension FreeList {
    /// A snapshot of a pool's counters.
    ///
    /// `inUse` and `peakInUse` are exact when the pool is quiescent. While threads run,
    /// `inUse` is derived from one head load and is a consistent recent value; a pop that
    /// overlaps a slab publication may under-report the peak (never over-report it).
    public struct Statistics: Sendable, Equatable {
        /// Bytes of address space reserved for slots.
        public var reservedBytes: Int
        /// Bytes of slot memory committed (slabs committed so far).
        public var committedBytes: Int
        /// Slabs committed so far.
        public var slabs: Int
        /// Slabs the reservation holds.
        public var totalSlabs: Int
        /// Slots handed out and not returned.
        public var inUse: Int
        /// Highest `inUse` seen since creation or the last reset.
        public var peakInUse: Int
        /// Failed head CAS attempts (contention), since creation.
        public var casRetries: Int
        /// Most slots the pool can hold.
        public var capacity: Int
        /// Slots whose memory is committed and published to the free list.
        public var publishedSlots: Int
        /// Bytes of off-heap metadata (control block, links, slot states) reserved.
        public var metadataBytes: Int
    }

    /// Current counters.
    ///
    /// ```swift
    /// let before = pool.statistics.inUse
    /// let p = try pool.allocate()
    /// #expect(pool.statistics.inUse == before + 1)
    /// ```
    public var statistics: Statistics {
        let current = Head(raw: head.pointee.load(ordering: .acquiring))
        let free: Int
        switch current.index {
        case Head.emptyIndex, Head.lockedIndex: free = 0
        default: free = Int(Link(raw: links[Int(current.index)].load(ordering: .relaxed)).depth)
        }
        let accounted = Int(accountedSlots.pointee.load(ordering: .relaxed))
        let slabs = Int(committedSlabs.pointee.load(ordering: .relaxed))
        return Statistics(
            reservedBytes: region.byteCount,
            committedBytes: min(slabs * geometry.slabSize, region.byteCount),
            slabs: slabs,
            totalSlabs: geometry.slabCount,
            inUse: max(0, accounted - free),
            peakInUse: Int(peak.pointee.load(ordering: .relaxed)),
            casRetries: Int(casRetries.pointee.load(ordering: .relaxed)),
            capacity: geometry.capacity,
            publishedSlots: accounted,
            metadataBytes: metadata.byteCount)
    }
}
