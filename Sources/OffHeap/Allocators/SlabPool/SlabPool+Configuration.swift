extension SlabPool {
    /// How a ``SlabPool`` is laid out.
    ///
    /// ```swift
    /// var configuration = SlabPool.Configuration()
    /// configuration.slabSize = 4 << 20
    /// configuration.maximumSlabs = 256
    /// let pool = try SlabPool(configuration: configuration)
    /// ```
    public struct Configuration: Sendable, Equatable {
        /// Bytes per slab, rounded up to whole pages; at most ``SlabPool/maximumSlabSize``
        /// (default 1 MiB).
        public var slabSize: Int
        /// Most slabs the pool installs, 1 ... ``SlabPool/maximumSlabLimit`` (default 1024);
        /// the pool reserves (but does not commit) `slabSize × maximumSlabs` bytes of address
        /// space up front.
        public var maximumSlabs: Int
        /// Entries of the large-block table, 1 ... 2^20 (default 1024).
        public var maximumLargeAllocations: Int

        /// A configuration with the given bounds (1 MiB slabs, 1024 of them and 1024 large
        /// blocks by default).
        public init(
            slabSize: Int = 1 << 20, maximumSlabs: Int = 1024, maximumLargeAllocations: Int = 1024
        ) {
            self.slabSize = slabSize
            self.maximumSlabs = maximumSlabs
            self.maximumLargeAllocations = maximumLargeAllocations
        }
    }

    /// Creates a pool: the same as `SlabPool(configuration: .init(slabSize: …, …))`.
    public convenience init(
        slabSize: Int = 1 << 20, maximumSlabs: Int = 1024, maximumLargeAllocations: Int = 1024
    ) throws(OffHeapError) {
        try self.init(
            configuration: Configuration(
                slabSize: slabSize, maximumSlabs: maximumSlabs,
                maximumLargeAllocations: maximumLargeAllocations))
    }
}
