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
        /// Alignment of every slot (a power of two, at least 1, at most the page size; default
        /// 16, malloc's alignment on x86-64 and aarch64).
        public var slotAlignment: Int
        /// Number of slots; fixed for the lifetime of the pool (at most 2³² − 2).
        public var capacity: Int
        /// Slots a thread caches per pool (2 … ``ShardedFreeList/maximumMagazineSize``;
        /// default 64).
        ///
        /// A refill (empty cache) takes `magazineSize / 2` slots and a flush (full cache)
        /// gives back the older `magazineSize / 2`, each with one CAS: Bonwick's pair of
        /// magazines (loaded + previous, each half this size) flattened into one array, so a
        /// thread that oscillates around a boundary cannot cause a shared-list operation per
        /// call; at least `magazineSize / 2` hits separate two moves.
        public var magazineSize: Int
        /// ``OffHeapChecking/checked`` (the default) tracks every slot's state so a double
        /// free is a typed error (``OffHeapError/doubleFree``) instead of corruption. Costs
        /// one relaxed load and one relaxed store of a side-table byte per operation, never an
        /// atomic read-modify-write.
        public var checking: OffHeapChecking

        /// A configuration with the default magazine size (64) and checking on.
        public init(
            slotSize: Int, slotAlignment: Int = 16, capacity: Int, magazineSize: Int = 64,
            checking: OffHeapChecking = .checked
        ) {
            self.slotSize = slotSize
            self.slotAlignment = slotAlignment
            self.capacity = capacity
            self.magazineSize = magazineSize
            self.checking = checking
        }

        /// Distance between slot starts: `slotSize` rounded up to `slotAlignment`.
        ///
        /// Meaningful only for a configuration that passes ``validate()``; for any other it
        /// never traps: an alignment that is not a positive power of two leaves `slotSize`
        /// as is, and a rounding that overflows gives `Int.max`.
        package var slotStride: Int {
            guard slotAlignment > 0, slotAlignment & (slotAlignment &- 1) == 0 else {
                return slotSize
            }
            let mask = slotAlignment &- 1
            let (sum, overflow) = slotSize.addingReportingOverflow(mask)
            return overflow ? Int.max : sum & ~mask
        }

        /// Throws the error the table at ``OffHeapError`` gives for a value out of range.
        package func validate() throws(OffHeapError) {
            guard slotSize != 0 else { throw .zeroSize }
            guard slotSize > 0, slotSize <= 1 << 40 else {
                throw .sizeTooLarge(requested: slotSize, limit: 1 << 40)
            }
            guard slotSize >= 8 else {
                throw .invalidConfiguration(reason: "slotSize must be at least 8 bytes")
            }
            guard slotAlignment > 0, slotAlignment & (slotAlignment - 1) == 0,
                slotAlignment <= VirtualMemory.pageSize
            else { throw .invalidAlignment(slotAlignment) }
            guard capacity > 0, capacity <= Int(UInt32.max) - 1 else {
                throw .invalidConfiguration(reason: "capacity must be in 1 ... 2^32 - 2")
            }
            guard magazineSize >= 2, magazineSize <= ShardedFreeList.maximumMagazineSize else {
                throw .invalidConfiguration(reason: "magazineSize must be in 2 ... 128")
            }
            let (bytes, overflow) = slotStride.multipliedReportingOverflow(by: capacity)
            guard !overflow, bytes <= 1 << 46 else {
                throw .sizeTooLarge(requested: overflow ? Int.max : bytes, limit: 1 << 46)
            }
        }
    }

    /// Largest magazine a thread may keep per pool.
    public static let maximumMagazineSize = 128
    /// Largest number of pools alive at once in one process (each owns one column of every
    /// thread's cache table).
    public static let maximumLiveInstances = 64
}
