@testable import OffHeap
import OffHeapTestSupport
import Testing

@Suite("SizeClassHeap")
struct SizeClassHeapTests {
    @Test func sizeClassTableIsTightAndMonotonic() {
        var previous = 0
        for cls in 0..<SizeClassTable.classCount {
            let size = SizeClassTable.blockSize(ofClass: cls)
            #expect(size > previous)
            #expect(size % 8 == 0)
            previous = size
        }
        #expect(previous == SizeClassTable.maxSmallSize)
        for n in 1...SizeClassTable.maxSmallSize {
            let cls = SizeClassTable.classIndex(forByteCount: n)
            let size = SizeClassTable.blockSize(ofClass: cls)
            #expect(size >= n)
            if cls > 0 { #expect(SizeClassTable.blockSize(ofClass: cls - 1) < n) }
            if n > 64 { #expect((size - n) * 8 <= size) }
            if size < n || (n > 64 && (size - n) * 8 > size) { break }
        }
    }

    /// The allocate fast path's one-load class lookup (`SizeClassLookup`) must give the
    /// smallest class that holds the request at its alignment, for every request size.
    @Test func classLookupAgreesWithTheSizeClassTable() throws {
        let heap = try SizeClassHeap()
        for n in 0...SizeClassTable.maxSmallSize {
            let plain = SizeClassTable.classIndex(forByteCount: max(n, 1))
            for alignment in [1, 2, 4, 8] {
                let cls = heap.smallClass(byteCount: n, alignment: alignment)
                if cls != plain {
                    Issue.record("n \(n) alignment \(alignment): class \(cls), want \(plain)")
                    return
                }
            }
            let aligned = SizeClassTable.classIndex(forByteCount: max(n, 1), alignment: 16)
            let cls = heap.smallClass(byteCount: n, alignment: 16)
            if cls != aligned || SizeClassTable.blockSize(ofClass: cls) % 16 != 0 {
                Issue.record("n \(n) alignment 16: class \(cls), want \(aligned)")
                return
            }
        }
        // Zero bytes at 16-byte alignment get a 16-byte class block, 16-aligned.
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<8 {
            let block = try heap.allocate(byteCount: 0, alignment: 16)
            #expect(UInt(bitPattern: block) % 16 == 0)
            #expect(try heap.usableSize(of: block) == 16)
            blocks.append(block)
        }
        for block in blocks { try heap.deallocate(block) }
        #expect(heap.statistics.inUseBytes == 0)
    }

    @Test func everyClassRoundTripsContents() throws {
        let heap = try SizeClassHeap()
        for cls in 0..<SizeClassTable.classCount {
            let size = SizeClassTable.blockSize(ofClass: cls)
            // Enough blocks to fill more than one page of the class.
            let count = min(600, max(3, (2 * 65536) / size + 2))
            var blocks: [UnsafeMutableRawPointer] = []
            for index in 0..<count {
                let block = try heap.allocate(byteCount: size, alignment: 8)
                #expect(Int(bitPattern: block) % 8 == 0)
                #expect(try heap.usableSize(of: block) == size)
                heapFillPattern(block, byteCount: size, tag: UInt64(cls << 20 | index))
                blocks.append(block)
            }
            #expect(Set(blocks.map { UInt(bitPattern: $0) }).count == count)
            for (index, block) in blocks.enumerated() {
                #expect(heapCheckPattern(block, byteCount: size, tag: UInt64(cls << 20 | index)))
                try heap.deallocate(block)
            }
            let stats = heap.statistics
            #expect(stats.sizeClasses[cls].allocations == UInt64(count))
            #expect(stats.sizeClasses[cls].inUseBlocks == 0)
        }
        #expect(heap.statistics.inUseBytes == 0)
        heap.trim()
        let stats = heap.statistics
        #expect(stats.committedBytes == 0)
        #expect(stats.mappedSegments == 0)
    }

    @Test func alignedRequestsAreAligned() throws {
        let heap = try SizeClassHeap()
        var blocks: [UnsafeMutableRawPointer] = []
        for shift in 0...20 {
            let alignment = 1 << shift
            for byteCount in [1, 24, 100, 3000, 40000] {
                let block = try heap.allocate(byteCount: byteCount, alignment: alignment)
                #expect(Int(bitPattern: block) % alignment == 0)
                #expect(try heap.usableSize(of: block) >= byteCount)
                heapFillPattern(block, byteCount: byteCount, tag: UInt64(shift))
                blocks.append(block)
            }
        }
        for block in blocks { try heap.deallocate(block) }
        #expect(heap.statistics.inUseBytes == 0)
    }

    @Test func zeroBytesGivesDistinctMinimumBlocks() throws {
        let heap = try SizeClassHeap()
        let a = try heap.allocate(byteCount: 0, alignment: 8)
        let b = try heap.allocate(byteCount: 0, alignment: 8)
        #expect(a != b)
        #expect(try heap.usableSize(of: a) == 8)
        try heap.deallocate(a)
        try heap.deallocate(b)
    }

    @Test func hugeBlocksMapAndAreCachedForReuse() throws {
        let heap = try SizeClassHeap()
        let size = 3 << 20
        let block = try heap.allocate(byteCount: size, alignment: 8)
        #expect(try heap.usableSize(of: block) >= size)
        heapFillPattern(block, byteCount: size, tag: 77)
        #expect(heapCheckPattern(block, byteCount: size, tag: 77))
        #expect(heap.statistics.hugeBlocks == 1)
        try heap.deallocate(block)
        var stats = heap.statistics
        #expect(stats.hugeBlocks == 0)
        #expect(stats.cachedHugeBytes >= size)
        let again = try heap.allocate(byteCount: size - 4096, alignment: 8)
        #expect(again == block)  // reused from the cache
        try heap.deallocate(again)
        heap.trim()
        stats = heap.statistics
        #expect(stats.cachedHugeBytes == 0)
        #expect(stats.committedBytes == 0)
    }

    @Test func reallocateKeepsContents() throws {
        let heap = try SizeClassHeap()
        var block = try heap.allocate(byteCount: 10, alignment: 8)
        heapFillPattern(block, byteCount: 10, tag: 5)
        for size in [12, 100, 1000, 30000, 100_000, 5_000_000, 64, 8] {
            let old = min(size, try heap.usableSize(of: block))
            block = try heap.reallocate(block, byteCount: size)
            #expect(try heap.usableSize(of: block) >= size)
            #expect(heapCheckPattern(block, byteCount: min(old, 10), tag: 5))
        }
        try heap.deallocate(block)
        #expect(heap.statistics.inUseBytes == 0)
    }

    @Test func pageEmptiedByLocalFreesIsReleasedToSegment() throws {
        // Retain nothing, no purge delay: every page that empties (other than the one being
        // allocated from) is decommitted at once, so committed bytes fall while blocks are
        // freed. (The delayed case: SizeClassHeapReleaseTests.)
        let heap = try SizeClassHeap(configuration: .init(retainedEmptyPageBytes: 0, purgeDelay: 0))
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<(8 * 40) { blocks.append(try heap.allocate(byteCount: 8192, alignment: 8)) }
        let before = heap.statistics.committedBytes
        for block in blocks { try heap.deallocate(block) }
        let after = heap.statistics.committedBytes
        #expect(after <= before - 30 * 65536)
        heap.trim()
        #expect(heap.statistics.committedBytes == 0)
    }
}

@Suite("SizeClassHeap alignment")
struct SizeClassHeapAlignmentTests {
    @Test func sixteenByteAlignmentHoldsForEverySmallSize() throws {
        let heap = try SizeClassHeap()
        var blocks: [UnsafeMutableRawPointer] = []
        for byteCount in 0...700 {
            let block = try heap.allocate(byteCount: byteCount, alignment: 16)
            #expect(Int(bitPattern: block) % 16 == 0)
            #expect(try heap.usableSize(of: block) >= byteCount)
            blocks.append(block)
        }
        // Several blocks per class, so more than the first block of each page is checked.
        for byteCount in stride(from: 64, through: 130, by: 1) {
            for _ in 0..<5 {
                let block = try heap.allocate(byteCount: byteCount, alignment: 16)
                #expect(Int(bitPattern: block) % 16 == 0)
                blocks.append(block)
            }
        }
        for block in blocks { try heap.deallocate(block) }
        #expect(heap.statistics.inUseBytes == 0)
    }
}

@Suite("SizeClassHeap thread table")
struct SizeClassHeapThreadTableTests {
    /// Heaps come and go; the thread's 64-entry table must evict destroyed heaps and keep
    /// each live heap findable, so frees by the allocating thread stay local.
    @Test func destroyedHeapsAreEvictedAndFreesStayLocal() throws {
        var window: [SizeClassHeap] = []
        for _ in 0..<200 {
            window.append(try SizeClassHeap())
            if window.count > 30 { window.removeFirst() }
            for heap in window.suffix(6) {
                let block = try heap.allocate(byteCount: 32, alignment: 8)
                try heap.deallocate(block)
            }
        }
        for heap in window {
            let stats = heap.statistics
            #expect(stats.remoteFrees == 0)
            #expect(stats.inUseBytes == 0)
        }
    }

    @Test func aThreadUsesAtMost64LiveHeaps() throws {
        let heaps = try (0..<65).map { _ in try SizeClassHeap() }
        var blocks: [(SizeClassHeap, UnsafeMutableRawPointer)] = []
        var refused = 0
        for heap in heaps {
            do throws(OffHeapError) {
                blocks.append((heap, try heap.allocate(byteCount: 16, alignment: 8)))
            } catch {
                #expect(error == .tooManyHeapsOnThread(limit: 64))
                refused += 1
            }
        }
        #expect(refused == 1)
        for (heap, block) in blocks { try heap.deallocate(block) }
        for heap in heaps { #expect(heap.statistics.inUseBytes == 0) }
    }
}
