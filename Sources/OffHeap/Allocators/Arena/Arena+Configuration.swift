extension Arena {
    /// How an ``Arena`` is reserved.
    ///
    /// ```swift
    /// var configuration = Arena.Configuration(capacity: 64 << 20)
    /// configuration.hugePages = .transparent
    /// let arena = try Arena(configuration: configuration)
    /// ```
    public struct Configuration: Sendable, Equatable {
        /// Bytes the arena can hand out before a reset, rounded up to whole pages;
        /// 1 ... ``Arena/maximumCapacity``.
        public var capacity: Int
        /// Huge page policy for the region (a hint; see ``VirtualMemory``).
        public var hugePages: VirtualMemory.HugePages

        /// A configuration of `capacity` bytes with the given huge page policy.
        public init(capacity: Int, hugePages: VirtualMemory.HugePages = .none) {
            self.capacity = capacity
            self.hugePages = hugePages
        }
    }

    /// Reserves an arena of at least `capacity` bytes: the same as
    /// `Arena(configuration: .init(capacity: capacity, hugePages: hugePages))`.
    public convenience init(
        capacity: Int, hugePages: VirtualMemory.HugePages = .none
    ) throws(OffHeapError) {
        try self.init(configuration: Configuration(capacity: capacity, hugePages: hugePages))
    }
}
