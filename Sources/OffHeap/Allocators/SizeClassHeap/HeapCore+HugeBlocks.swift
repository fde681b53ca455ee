import Synchronization

extension HeapCore {
    // MARK: - Huge blocks

    /// A block of its own mapping: header page, then the block at `max(page, alignment)`.
    func allocateHuge(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        let offset = max(VirtualMemory.pageSize, alignment)
        // The limit is on what the caller asked for; the header page (or alignment gap)
        // comes on top (`maximumByteCount` itself is accepted, as documented).
        let (total, overflow) = byteCount.addingReportingOverflow(offset)
        guard !overflow, byteCount <= SizeClassHeap.maximumByteCount else {
            throw .sizeTooLarge(requested: byteCount, limit: SizeClassHeap.maximumByteCount)
        }
        let bytes = VirtualMemory.roundUp(total, to: VirtualMemory.pageSize)
        var segment: UnsafeMutableRawPointer?
        lock.lock()
        if let index = hugeCache.firstIndex(where: {
            let reserved = SegmentLayout.header($0).pointee.reservedBytes
            return reserved >= bytes && reserved / 2 <= bytes
        }) {
            segment = hugeCache.remove(at: index)
            hugeCachedBytes.wrappingSubtract(
                SegmentLayout.header(segment!).pointee.reservedBytes, ordering: .relaxed)
        }
        lock.unlock()
        if segment == nil {
            let region = try VirtualMemory.reserve(
                byteCount: bytes, alignment: SegmentLayout.segmentSize, committed: true)
            SegmentLayout.header(region.base).initialize(
                to: SegmentHeader(heapID: id, kind: SegmentLayout.kindHuge,
                                  reservedBytes: region.byteCount))
            do {
                try SegmentRegistry.shared.publish(
                    segmentBase: UInt(bitPattern: region.base), heapID: id)
            } catch {
                try? VirtualMemory.release(region)
                throw error
            }
            committedBytes.wrappingAdd(region.byteCount, ordering: .relaxed)
            segment = region.base
        }
        let header = SegmentLayout.header(segment!)
        lock.lock()
        liveHuge.insert(UInt(bitPattern: segment!))
        lock.unlock()
        header.pointee.hugeOffset = offset
        header.pointee.hugeLive.store(1, ordering: .releasing)
        hugeLiveBytes.wrappingAdd(header.pointee.reservedBytes - offset, ordering: .relaxed)
        hugeLiveCount.wrappingAdd(1, ordering: .relaxed)
        Instrumentation.allocated(
            segment! + offset, byteCount: header.pointee.reservedBytes - offset,
            pool: instrumentationPool)
        return segment! + offset
    }

    /// Frees a huge block; at most `hugeCacheCount` recent ones stay mapped for reuse.
    @usableFromInline
    func freeHuge(_ segment: UnsafeMutableRawPointer, _ pointer: UnsafeMutableRawPointer)
        throws(OffHeapError)
    {
        let header = SegmentLayout.header(segment)
        guard pointer == segment + header.pointee.hugeOffset else { throw .interiorPointer }
        guard header.pointee.hugeLive.exchange(0, ordering: .acquiringAndReleasing) == 1 else {
            throw .doubleFree
        }
        let reserved = header.pointee.reservedBytes
        Instrumentation.freed(
            pointer, byteCount: reserved - header.pointee.hugeOffset, pool: instrumentationPool)
        hugeLiveBytes.wrappingSubtract(reserved - header.pointee.hugeOffset, ordering: .relaxed)
        hugeLiveCount.wrappingSubtract(1, ordering: .relaxed)
        lock.lock()
        liveHuge.remove(UInt(bitPattern: segment))
        var keep = false
        if hugeCache.count < configuration.hugeCacheCount
            && hugeCachedBytes.load(ordering: .relaxed) + reserved <= configuration.hugeCacheBytes
        {
            hugeCache.append(segment)
            hugeCachedBytes.wrappingAdd(reserved, ordering: .relaxed)
            keep = true
        }
        lock.unlock()
        if !keep { unmapSegment(segment) }
    }
}
