import Synchronization

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
