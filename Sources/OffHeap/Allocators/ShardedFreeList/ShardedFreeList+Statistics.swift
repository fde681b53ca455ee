import Synchronization

extension ShardedFreeList {
    /// Counters of a ``ShardedFreeList``, summed over live threads' caches and the folded
    /// counters of exited threads.
    ///
    /// Live threads update their counters with relaxed stores while this is read, so a
    /// snapshot taken during activity is approximate (each field is some recent value);
    /// taken after the threads that used the pool have exited or paused, it is exact.
    ///
    /// ```swift
    /// let statistics = pool.statistics
    /// print("hit rate", Double(statistics.hits) / Double(statistics.hits + statistics.misses))
    /// ```
    public struct Statistics: Sendable, Equatable {
        /// Operations served by the calling thread's magazine alone.
        public var hits: UInt64 = 0
        /// Operations that found the magazine empty (allocate) or full (deallocate).
        public var misses: UInt64 = 0
        /// Moves of a chain from the shared list into a magazine (one CAS each).
        public var refills: UInt64 = 0
        /// Moves of a chain from a magazine to the shared list (one CAS each), including
        /// thread-exit and explicit flushes.
        public var flushes: UInt64 = 0
        /// Live threads holding a cache for this pool.
        public var threadCaches: Int = 0
        /// Slots sitting in live threads' magazines.
        public var cachedSlots: Int = 0
        /// The fullest live thread's magazine.
        public var maximumThreadOccupancy: Int = 0
        /// Successful CASes on the shared list's head since the pool was created (mod 2³²).
        public var sharedListOperations: UInt32 = 0

        /// All counters zero.
        package init() {}
    }

    /// A snapshot of the pool's counters; see ``Statistics``.
    public var statistics: Statistics {
        var stats = Statistics()
        let registry = runtime.registry
        stats.hits = registry.folded(id, .hits)
        stats.misses = registry.folded(id, .misses)
        stats.refills = registry.folded(id, .refills)
        stats.flushes = registry.folded(id, .flushes)
        forEachThreadCache { cache in
            stats.hits &+= cache.hits
            stats.misses &+= cache.counter(.misses)
            stats.refills &+= cache.counter(.refills)
            stats.flushes &+= cache.counter(.flushes)
            let count = cache.count
            stats.threadCaches += 1
            stats.cachedSlots += count
            stats.maximumThreadOccupancy = max(stats.maximumThreadOccupancy, count)
        }
        stats.sharedListOperations = Self.operationCount(of: global)
        return stats
    }

    /// Calls `body` with the number of slots in each live thread's magazine for this pool.
    package func forEachThreadOccupancy(_ body: (Int) -> Void) {
        forEachThreadCache { cache in body(cache.count) }
    }

    internal func forEachThreadCache(_ body: (ShardedThreadCache) -> Void) {
        for index in 0..<runtime.recordCount {
            let cache = runtime.record(at: UInt32(index)).cache(id)
            if cache.word(.stamp).pointee.load(ordering: .acquiring) == stamp { body(cache) }
        }
    }
}
