import Synchronization

extension HeapCore {
    // MARK: - Segment cache (lock held unless noted)

    /// Parks an empty segment: it stays mapped and published (stale pointers into it still
    /// read as this heap's and are rejected by their page descriptor), stamped with the time
    /// it became empty; its committed free units are decommitted after the purge delay
    /// (HeapCore+Purge.swift), at once when the delay is 0.
    func cache(_ segment: UnsafeMutableRawPointer, now: UInt64) {
        let header = SegmentLayout.header(segment)
        if configuration.purgeDelay == 0 {
            decommitDirtyUnits(segment)
        } else if header.pointee.dirtyMask != 0 {
            schedulePurge(segment, now: now)
        }
        header.pointee.cachedAt = now
        cached.pushFront(segment)
        cachedCount += 1
        cachedSegmentsCount.store(cachedCount, ordering: .relaxed)
    }


    /// The most recently cached segment, unlinked from the cache.
    func takeCachedSegment() -> UnsafeMutableRawPointer? {
        guard let segment = cached.head else { return nil }
        removeCached(segment)
        return segment
    }

    private func removeCached(_ segment: UnsafeMutableRawPointer) {
        cached.remove(segment)
        cachedCount -= 1
        cachedSegmentsCount.store(cachedCount, ordering: .relaxed)
    }

    /// Removes from the cache, oldest first, every segment beyond the count or byte bound or
    /// older than the age bound; returns them for unmapping outside the lock.
    func enforceCachePolicy(now: UInt64, releaseAll: Bool = false) -> [UnsafeMutableRawPointer] {
        var evicted: [UnsafeMutableRawPointer] = []
        while let oldest = cached.tail {
            let age = now &- SegmentLayout.header(oldest).pointee.cachedAt
            let overCount = cachedCount > configuration.maximumCachedSegments
            let overBytes = cachedCount * SegmentLayout.segmentSize > configuration.maximumCachedSegmentBytes
            let expired = now >= SegmentLayout.header(oldest).pointee.cachedAt
                && age >= configuration.maximumCachedSegmentAge
            guard releaseAll || overCount || overBytes || expired else { break }
            removeCached(oldest)
            forgetDirtyUnits(oldest)  // unmapped next: no madvise first
            evicted.append(oldest)
        }
        return evicted
    }

    /// Applies the segment-cache bounds and the purge delay now (no lock held).
    func releaseExpired() {
        lock.lock()
        let now = configuration.clock()
        purgeExpired(now: now)
        let evicted = enforceCachePolicy(now: now)
        lock.unlock()
        for segment in evicted { unmapSegment(segment) }
    }

    // MARK: - Trim

    /// Returns every byte that is free to return: the calling thread's empty pages, empty
    /// abandoned pages, committed free units, cached segments and cached huge blocks.
    func trim() {
        if let heap = ThreadRecord.lookup(id) {
            ThreadHeap.flushRemoteBatches(heap)
            for cls in 0..<SizeClassTable.classCount {
                let queue = ThreadHeap.queue(heap, cls)
                for listIsFull in [false, true] {
                    var cursor = listIsFull ? queue.pointee.full : queue.pointee.active
                    while let page = cursor {
                        cursor = page.pointee.next
                        queue.pointee.frees.ownerAdd(UInt64(HeapCore.collect(page, checked: checked)))
                        if page.pointee.used == 0 {
                            HeapCore.unlink(page, from: queue)
                            releasePage(page)
                        }
                    }
                }
                queue.pointee.current = queue.pointee.active
            }
        }
        // Abandoned pages: collect under the lock (they have no owner); release empty ones.
        lock.lock()
        var empty: [PagePointer] = []
        for cls in 0..<SizeClassTable.classCount {
            var cursor = abandoned[cls]
            while let page = cursor {
                cursor = page.pointee.next
                unownedFrees[cls] &+= UInt64(HeapCore.collect(page, checked: checked))
                if page.pointee.used == 0 {
                    HeapCore.unlink(page, &abandoned[cls])
                    abandonedCount -= 1
                    empty.append(page)
                }
            }
        }
        lock.unlock()
        for page in empty { releasePage(page) }

        lock.lock()
        var cursor = segments.head
        while let segment = cursor {
            let header = SegmentLayout.header(segment)
            cursor = header.pointee.next
            decommitDirtyUnits(segment)
            // Racing refills can each map a segment and all carve from one of them, so a
            // linked segment may be entirely free without a page release having seen it.
            if header.pointee.freeMask == SegmentLayout.usableUnitsMask {
                unlink(segment)
                cache(segment, now: 0)  // evicted just below
            }
        }
        var evicted = enforceCachePolicy(now: configuration.clock(), releaseAll: true)
        evicted.append(contentsOf: hugeCache)
        for segment in hugeCache {
            hugeCachedBytes.wrappingSubtract(
                SegmentLayout.header(segment).pointee.reservedBytes, ordering: .relaxed)
        }
        hugeCache.removeAll()
        lock.unlock()
        for segment in evicted { unmapSegment(segment) }
    }

    // MARK: - Shutdown

    /// Unmaps everything (the heap's last reference is gone; no thread may use it now).
    func shutdown() {
        HeapDirectory.shared.remove(heapID: id)
        lock.lock()
        var all: [UnsafeMutableRawPointer] = []
        var cursor = segments.head
        while let segment = cursor {
            cursor = SegmentLayout.header(segment).pointee.next
            all.append(segment)
        }
        segments.removeAll()
        all.append(contentsOf: enforceCachePolicy(now: configuration.clock(), releaseAll: true))
        all.append(contentsOf: hugeCache)
        hugeCache.removeAll()
        for address in liveHuge { all.append(UnsafeMutableRawPointer(bitPattern: address)!) }
        liveHuge.removeAll()
        let chunks = recordChunks
        recordChunks.removeAll()
        records.removeAll()
        freeRecords = nil
        lock.unlock()
        // Blocks still live die with the heap: not leaks (the heap's documented contract).
        Instrumentation.destroyPool(instrumentationPool)
        for segment in all { unmapSegment(segment) }
        for chunk in chunks { try? VirtualMemory.release(chunk) }
    }
}
