import Synchronization

extension SizeClassHeap {
    /// A snapshot of a heap's counters.
    ///
    /// In-use figures follow the heap's deferred accounting: a block freed by a thread that
    /// does not own its page counts as in use until the owner (or `trim()`, for an abandoned
    /// page) collects it. Under concurrent use the snapshot is approximate; at rest it is
    /// exact.
    ///
    /// ```swift
    /// let statistics = heap.statistics
    /// print(statistics.inUseBytes, statistics.committedBytes, statistics.remoteFrees)
    /// ```
    public struct Statistics: Sendable, Equatable {
        /// Counters of one size class.
        public struct SizeClass: Sendable, Equatable {
            /// Bytes of each block of the class.
            public var blockSize: Int
            /// Blocks of the class handed out.
            public var allocations: UInt64
            /// Blocks of the class returned.
            public var frees: UInt64
            /// `allocations - frees`.
            public var inUseBlocks: Int
        }

        /// Bytes mapped read-write that may be resident: pages in use or retained, segment
        /// metadata, huge blocks (live and cached).
        public var committedBytes: Int
        /// Bytes of live blocks at their class size, plus live huge blocks.
        public var inUseBytes: Int
        /// Per class, indexed like `SizeClassTable`.
        public var sizeClasses: [SizeClass]
        /// Frees made by a thread other than the page's owner.
        public var remoteFrees: UInt64
        /// Small segments mapped (in use or cached).
        public var mappedSegments: Int
        /// Empty segments waiting in the cache.
        public var cachedSegments: Int
        /// Pages whose thread exited, not yet adopted or released.
        public var abandonedPages: Int
        /// Live huge blocks and their usable bytes.
        public var hugeBlocks: Int
        /// Usable bytes of the live huge blocks.
        public var hugeBytes: Int
        /// Bytes of freed huge blocks kept for reuse.
        public var cachedHugeBytes: Int
    }

    /// The heap's counters now.
    public var statistics: Statistics { core.statistics() }
}
