import OffHeap
import Synchronization
import Testing

/// A clock tests move by hand.
final class HeapTestClock: Sendable {
    let now = Atomic<UInt64>(1_000)
    func advance(by nanoseconds: UInt64) { now.wrappingAdd(nanoseconds, ordering: .relaxed) }
}

@Suite("SizeClassHeap release")
struct SizeClassHeapReleaseTests {
    /// 8 KiB blocks: 8 per unit, 61 units per segment → 488 per segment.
    static func fillSegments(_ heap: SizeClassHeap, blocks: Int) throws -> [UnsafeMutableRawPointer] {
        var result: [UnsafeMutableRawPointer] = []
        for index in 0..<blocks {
            let block = try heap.allocate(byteCount: 8192, alignment: 8)
            block.storeBytes(of: UInt64(index), as: UInt64.self)
            result.append(block)
        }
        return result
    }

    @Test func emptySegmentsAgeOutOfTheCache() throws {
        let clock = HeapTestClock()
        let heap = try SizeClassHeap(
            configuration: .init(
                maximumCachedSegmentAge: 10_000_000_000, clock: { clock.now.load(ordering: .relaxed) }))
        let blocks = try Self.fillSegments(heap, blocks: 488 * 3)
        #expect(heap.statistics.mappedSegments == 3)
        // Free in reverse: the segment holding the current page empties last and stays.
        for block in blocks.reversed() { try heap.deallocate(block) }
        var stats = heap.statistics
        #expect(stats.cachedSegments == 2)
        #expect(stats.mappedSegments == 3)
        clock.advance(by: 9_000_000_000)
        heap.releaseExpiredSegments()
        #expect(heap.statistics.cachedSegments == 2)
        clock.advance(by: 2_000_000_000)
        heap.releaseExpiredSegments()
        stats = heap.statistics
        #expect(stats.cachedSegments == 0)
        #expect(stats.mappedSegments == 1)
        // The heap is still usable and reuses nothing stale.
        let again = try heap.allocate(byteCount: 8192, alignment: 8)
        try heap.deallocate(again)
        heap.trim()
        #expect(heap.statistics.mappedSegments == 0)
    }

    @Test func cacheCountAndByteBoundsHold() throws {
        let byCount = try SizeClassHeap(configuration: .init(maximumCachedSegments: 1))
        for block in try Self.fillSegments(byCount, blocks: 488 * 4).reversed() {
            try byCount.deallocate(block)
        }
        #expect(byCount.statistics.cachedSegments == 1)
        #expect(byCount.statistics.mappedSegments == 2)

        let byBytes = try SizeClassHeap(configuration: .init(maximumCachedSegmentBytes: 8 << 20))
        for block in try Self.fillSegments(byBytes, blocks: 488 * 5).reversed() {
            try byBytes.deallocate(block)
        }
        #expect(byBytes.statistics.cachedSegments == 2)
    }

    @Test func cachedSegmentIsReusedBeforeMappingAnother() throws {
        let heap = try SizeClassHeap()
        for block in try Self.fillSegments(heap, blocks: 488 * 2).reversed() {
            try heap.deallocate(block)
        }
        #expect(heap.statistics.cachedSegments == 1)
        let blocks = try Self.fillSegments(heap, blocks: 488 * 2)
        let stats = heap.statistics
        #expect(stats.cachedSegments == 0)
        #expect(stats.mappedSegments == 2)
        for block in blocks { try heap.deallocate(block) }
    }

    /// Units freed in full segments are found again: the segment list keeps the segments
    /// with free units ahead of the full ones, and the search stops at the first full one
    /// (HeapCore.segments). Were a segment with a free unit left behind a full one (not
    /// moved up when it got the unit back, or a segment that filled not moved back), the
    /// search would stop short of it and map a fourth segment.
    @Test func unitsFreedInFullSegmentsAreReusedBeforeMappingAnother() throws {
        let heap = try SizeClassHeap()
        let blocks = try Self.fillSegments(heap, blocks: 488 * 3)
        #expect(heap.statistics.mappedSegments == 3)
        let segmentMask = ~UInt(4 << 20 - 1)
        let segments = [0, 488, 976].map { UInt(bitPattern: blocks[$0]) & segmentMask }
        #expect(Set(segments).count == 3)
        // The first page (8 blocks of 8 KiB, one unit) of the two newer segments empties and
        // goes back to its segment; every other unit of the three is still in use.
        for block in blocks[488..<496] + blocks[976..<984] { try heap.deallocate(block) }
        // Two pages of another class (16 blocks of 4 KiB each) take those two units: the
        // first fills one segment again, which must not hide the other.
        var others: [UnsafeMutableRawPointer] = []
        for _ in 0..<32 { others.append(try heap.allocate(byteCount: 4096, alignment: 8)) }
        #expect(Set(others.map { UInt(bitPattern: $0) & segmentMask }) == [segments[1], segments[2]])
        #expect(heap.statistics.mappedSegments == 3)
        // The next page fills a fresh segment: the three are full again.
        others.append(try heap.allocate(byteCount: 4096, alignment: 8))
        #expect(heap.statistics.mappedSegments == 4)
        for block in others + blocks[..<488] + blocks[496..<976] + blocks[984...] {
            try heap.deallocate(block)
        }
        heap.trim()
        #expect(heap.statistics.mappedSegments == 0)
    }

    @Test func trimReturnsEverythingAndHeapStaysUsable() throws {
        let heap = try SizeClassHeap()
        var blocks: [UnsafeMutableRawPointer] = []
        for index in 0..<5000 {
            blocks.append(try heap.allocate(byteCount: 16 + (index * 37) % 3000, alignment: 8))
        }
        blocks.append(try heap.allocate(byteCount: 200_000, alignment: 8))
        #expect(heap.statistics.committedBytes > 4 << 20)
        for block in blocks { try heap.deallocate(block) }
        #expect(heap.statistics.committedBytes > 0)
        heap.trim()
        var stats = heap.statistics
        #expect(stats.committedBytes == 0)
        #expect(stats.mappedSegments == 0)
        #expect(stats.cachedSegments == 0)
        let block = try heap.allocate(byteCount: 100, alignment: 8)
        #expect(heap.statistics.committedBytes > 0)
        try heap.deallocate(block)
        heap.trim()
        stats = heap.statistics
        #expect(stats.committedBytes == 0)
        #expect(stats.inUseBytes == 0)
    }

    /// A heap whose free memory beyond the retained allowance waits `delay` on `clock`.
    static func delayedPurgeHeap(_ clock: HeapTestClock, delay: UInt64) throws -> SizeClassHeap {
        try SizeClassHeap(
            configuration: .init(
                retainedEmptyPageBytes: 0, purgeDelay: delay,
                clock: { clock.now.load(ordering: .relaxed) }))
    }

    /// With a delay, freed pages stay committed until it has passed; with none, they go at once.
    @Test(arguments: [UInt64(0), 10_000_000])
    func freePagesAreDecommittedOnceThePurgeDelayHasPassed(delay: UInt64) throws {
        let clock = HeapTestClock()
        let heap = try Self.delayedPurgeHeap(clock, delay: delay)
        // Two segments' worth; the first block keeps its segment linked (not cached).
        let blocks = try Self.fillSegments(heap, blocks: 488 * 2)
        let full = heap.statistics.committedBytes
        for block in blocks.dropFirst().reversed() { try heap.deallocate(block) }
        if delay > 0 {
            // Freed, not yet purged: every page is still committed.
            #expect(heap.statistics.committedBytes == full)
            clock.advance(by: delay - 1_000_000)
            heap.releaseExpiredSegments()
            #expect(heap.statistics.committedBytes == full)
            clock.advance(by: 2_000_000)
            heap.releaseExpiredSegments()
        }
        let purged = heap.statistics.committedBytes
        // Only the first block's page and the metadata stay: well under one segment.
        #expect(purged < full / 4)
        // The heap goes on: new blocks, then everything back.
        for block in try Self.fillSegments(heap, blocks: 100) { try heap.deallocate(block) }
        #expect(heap.statistics.committedBytes >= purged)
        #expect(blocks[0].load(as: UInt64.self) == 0)
        try heap.deallocate(blocks[0])
        heap.trim()
        #expect(heap.statistics.committedBytes == 0)
    }

    @Test func memoryFreedWithinTheDelayIsReusedWithoutRecommitting() throws {
        let clock = HeapTestClock()
        let heap = try Self.delayedPurgeHeap(clock, delay: 10_000_000)
        let anchor = try heap.allocate(byteCount: 64, alignment: 8)
        let first = try Self.fillSegments(heap, blocks: 488)
        let full = heap.statistics.committedBytes
        // Round after round inside the delay: the same committed units serve every round.
        for round in 0..<20 {
            let blocks = round == 0 ? first : try Self.fillSegments(heap, blocks: 488)
            for (index, block) in blocks.enumerated() {
                #expect(block.load(as: UInt64.self) == UInt64(index))
                try heap.deallocate(block)
            }
            clock.advance(by: 100_000)
            #expect(heap.statistics.committedBytes <= full)
        }
        #expect(heap.statistics.mappedSegments <= 2)
        try heap.deallocate(anchor)
    }
}
