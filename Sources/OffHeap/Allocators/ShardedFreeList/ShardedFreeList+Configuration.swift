extension ShardedFreeList {
    /// How a ``ShardedFreeList`` is laid out and checked.
    ///
    /// ```swift
    /// var configuration = ShardedFreeList.Configuration(slotSize: 64, capacity: 1 << 16)
    /// configuration.magazineSize = 32
    /// let pool = try ShardedFreeList(configuration: configuration)
    /// ```
    public struct Configuration: Sendable, Equatable {
        /// Bytes usable in every slot (at least 8, like ``FreeList``).
        public var slotSize: Int
        /// Alignment of every slot (a power of two, at least 1, at most the page size).
        public var slotAlignment: Int
        /// Number of slots; fixed for the lifetime of the pool (at most 2³² − 2).
        public var capacity: Int
        /// Slots a thread caches per pool before it hands half of them back in one move
        /// (2 … ``ShardedFreeList/maximumMagazineSize``; default 64).
        public var magazineSize: Int
        /// Tracks every slot's state so a double free is a typed error
        /// (``OffHeapError/doubleFree``) instead of corruption. Costs one relaxed load and
        /// one relaxed store of a side-table byte per operation, never an atomic
        /// read-modify-write.
        public var checked: Bool

        /// A configuration with the default magazine size (64) and checking on.
        public init(
            slotSize: Int, slotAlignment: Int = 8, capacity: Int, magazineSize: Int = 64,
            checked: Bool = true
        ) {
            self.slotSize = slotSize
            self.slotAlignment = slotAlignment
            self.capacity = capacity
            self.magazineSize = magazineSize
            self.checked = checked
        }

        /// Distance between slot starts: `slotSize` rounded up to `slotAlignment`.
        public var slotStride: Int {
            (slotSize + slotAlignment - 1) & ~(slotAlignment - 1)
        }

        /// Throws ``OffHeapError/invalidConfiguration(reason:)`` for values out of range.
        public func validate() throws(OffHeapError) {
            guard slotSize >= 8 else {
                throw .invalidConfiguration(reason: "slotSize must be at least 8 bytes")
            }
            guard slotAlignment > 0, slotAlignment & (slotAlignment - 1) == 0,
                slotAlignment <= VirtualMemory.pageSize
            else {
                throw .invalidConfiguration(
                    reason: "slotAlignment must be a power of two no larger than a page")
            }
            guard slotSize <= 1 << 40 else {
                throw .invalidConfiguration(reason: "slotSize too large")
            }
            guard capacity > 0, capacity <= Int(UInt32.max) - 1 else {
                throw .invalidConfiguration(reason: "capacity must be in 1 ... 2^32 - 2")
            }
            guard magazineSize >= 2, magazineSize <= ShardedFreeList.maximumMagazineSize else {
                throw .invalidConfiguration(reason: "magazineSize must be in 2 ... 128")
            }
            let (bytes, overflow) = slotStride.multipliedReportingOverflow(by: capacity)
            guard !overflow, bytes <= 1 << 46 else {
                throw .invalidConfiguration(reason: "capacity * slotStride too large")
            }
        }
    }

    /// Largest magazine a thread may keep per pool.
    public static let maximumMagazineSize = 128
    /// Largest number of pools alive at once in one process (each owns one column of every
    /// thread's cache table).
    public static let maximumLiveInstances = 64
}
