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
    /// let stats = heap.statistics()
    /// print(stats.inUseBytes, stats.committedBytes, stats.remoteFrees)
    /// ```
    public struct Statistics: Sendable, Equatable {
        /// Counters of one size class.
        public struct SizeClass: Sendable, Equatable {
            public var blockSize: Int
            public var allocations: UInt64
            public var frees: UInt64
            /// `allocations - frees`.
            public var inUseBlocks: Int
        }

        /// Bytes mapped read-write that may be resident: pages in use or retained, segment
        /// metadata, huge blocks (live and cached).
        public var committedBytes: Int
        /// Bytes of live blocks at their class size, plus live huge blocks.
        public var inUseBytes: Int
        /// Per class, indexed like ``SizeClassTable``.
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
        public var hugeBytes: Int
        /// Bytes of freed huge blocks kept for reuse.
        public var cachedHugeBytes: Int
    }

    /// The heap's counters now.
    public func statistics() -> Statistics { core.statistics() }
}

extension HeapCore {
    func statistics() -> SizeClassHeap.Statistics {
        var classes: [SizeClassHeap.Statistics.SizeClass] = []
        classes.reserveCapacity(SizeClassTable.classCount)
        for cls in 0..<SizeClassTable.classCount {
            classes.append(.init(
                blockSize: SizeClassTable.blockSize(ofClass: cls), allocations: 0, frees: 0,
                inUseBlocks: 0))
        }
        var remote = unattachedRemoteFrees.load(ordering: .relaxed)
        lock.lock()
        for heap in records {
            remote &+= heap.pointee.remoteFrees.load(ordering: .relaxed)
            for cls in 0..<SizeClassTable.classCount {
                let queue = ThreadHeap.queue(heap, cls)
                classes[cls].allocations &+= queue.pointee.allocations.load(ordering: .relaxed)
                classes[cls].frees &+= queue.pointee.frees.load(ordering: .relaxed)
            }
        }
        for cls in 0..<SizeClassTable.classCount { classes[cls].frees &+= unownedFrees[cls] }
        let abandonedPages = abandonedCount
        lock.unlock()
        var inUse = 0
        for cls in 0..<SizeClassTable.classCount {
            let live = Int(truncatingIfNeeded: classes[cls].allocations &- classes[cls].frees)
            classes[cls].inUseBlocks = live
            inUse += live * classes[cls].blockSize
        }
        let huge = hugeLiveBytes.load(ordering: .relaxed)
        return .init(
            committedBytes: committedBytes.load(ordering: .relaxed),
            inUseBytes: inUse + huge,
            sizeClasses: classes,
            remoteFrees: remote,
            mappedSegments: mappedSegments.load(ordering: .relaxed),
            cachedSegments: cachedSegmentsCount.load(ordering: .relaxed),
            abandonedPages: abandonedPages,
            hugeBlocks: hugeLiveCount.load(ordering: .relaxed),
            hugeBytes: huge,
            cachedHugeBytes: hugeCachedBytes.load(ordering: .relaxed))
    }
}
