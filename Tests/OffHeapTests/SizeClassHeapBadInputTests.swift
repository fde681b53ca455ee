@testable import OffHeap
import Testing

@Suite("SizeClassHeap bad input")
struct SizeClassHeapBadInputTests {
    @Test func doubleFreeIsATypedErrorAndHeapStaysUsable() throws {
        let heap = try SizeClassHeap()
        let keep = try heap.allocate(byteCount: 64, alignment: 8)
        let block = try heap.allocate(byteCount: 64, alignment: 8)
        try heap.deallocate(block)
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(block) }
        #expect(throws: OffHeapError.doubleFree) { _ = try heap.usableSize(of: block) }
        // Not corrupted: two allocations give two distinct blocks.
        let a = try heap.allocate(byteCount: 64, alignment: 8)
        let b = try heap.allocate(byteCount: 64, alignment: 8)
        #expect(a != b && a != keep && b != keep)
        for p in [a, b, keep] { try heap.deallocate(p) }
        #expect(heap.statistics.inUseBytes == 0)
    }

    @Test func concurrentRemoteDoubleFreeIsATypedError() throws {
        let heap = try SizeClassHeap()
        let keep = try heap.allocate(byteCount: 48, alignment: 8)
        let block = try heap.allocate(byteCount: 48, alignment: 8)
        let address = UInt(bitPattern: block)
        let outcomes = HeapTestWords(count: 3)
        try PlatformThread.run(count: 1) { _ in
            let block = UnsafeMutableRawPointer(bitPattern: address)!
            outcomes[0] = (try? heap.deallocate(block)) == nil ? 0 : 1
            do throws(OffHeapError) { try heap.deallocate(block) } catch { outcomes[1] = error == .doubleFree ? 1 : 0 }
            do throws(OffHeapError) { _ = try heap.usableSize(of: block) } catch {
                outcomes[2] = error == .doubleFree ? 1 : 0
            }
        }
        #expect(outcomes[0] == 1 && outcomes[1] == 1 && outcomes[2] == 1)
        // The owner sees it too, before and after collecting the remote free.
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(block) }
        var fresh: [UnsafeMutableRawPointer] = []
        while !fresh.contains(block) {
            fresh.append(try heap.allocate(byteCount: 48, alignment: 8))
            #expect(fresh.count < 10_000)
        }
        for p in fresh { try heap.deallocate(p) }
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(block) }
        try heap.deallocate(keep)
        #expect(heap.statistics.inUseBytes == 0)
        #expect(heap.statistics.remoteFrees == 1)
    }

    @Test func interiorAndMisalignedPointersAreRejected() throws {
        let heap = try SizeClassHeap()
        let block = try heap.allocate(byteCount: 256, alignment: 8)
        #expect(throws: OffHeapError.interiorPointer) { try heap.deallocate(block + 64) }
        #expect(throws: OffHeapError.misalignedPointer) { try heap.deallocate(block + 3) }
        let huge = try heap.allocate(byteCount: 1 << 20, alignment: 8)
        #expect(throws: OffHeapError.interiorPointer) { try heap.deallocate(huge + 4096) }
        try heap.deallocate(huge)
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(huge) }
        try heap.deallocate(block)
        #expect(heap.statistics.inUseBytes == 0)
    }

    @Test(arguments: [true, false])
    func foreignPointersAreRejectedInBothModes(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let other = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let system = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { system.deallocate() }
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(system) }
        let theirs = try other.allocate(byteCount: 32, alignment: 8)
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(theirs) }
        let mine = try heap.allocate(byteCount: 32, alignment: 8)
        // Segment metadata and never-formatted units are not blocks either.
        let segment = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: mine) & ~UInt(4 << 20 - 1))!
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(segment + 4096) }
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(segment + (60 << 16)) }
        try other.deallocate(theirs)
        try heap.deallocate(mine)
        #expect(throws: OffHeapError.foreignPointer) {
            try heap.deallocate(UnsafeMutableRawPointer(bitPattern: 0x7000_0000_0000)!)
        }
    }

    /// A released page's first descriptor keeps no owner, so the free fast path (which tests
    /// only the owner, not the block size) sends a stale pointer into it to the typed error.
    @Test(arguments: [true, false])
    func pointerIntoAReleasedPageIsForeign(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        // 1024 B blocks: 64 per 64 KiB page, so 100 blocks span two pages.
        var blocks: [UnsafeMutableRawPointer] = []
        for index in 0..<100 {
            let block = try heap.allocate(byteCount: 1024, alignment: 8)
            block.storeBytes(of: UInt64(index), as: UInt64.self)
            blocks.append(block)
        }
        let firstPage = UInt(bitPattern: blocks[0]) & ~UInt(0xFFFF)
        let onFirst = blocks.filter { UInt(bitPattern: $0) & ~UInt(0xFFFF) == firstPage }
        let rest = blocks.filter { UInt(bitPattern: $0) & ~UInt(0xFFFF) != firstPage }
        #expect(onFirst.count == 64 && rest.count == 36)
        // The first page is full and not current: freeing all its blocks releases it.
        for block in onFirst { try heap.deallocate(block) }
        #expect(heap.statistics.sizeClasses.reduce(0) { $0 + $1.inUseBlocks } == 36)
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(onFirst[0]) }
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(onFirst[5]) }
        for (index, block) in blocks.enumerated() where rest.contains(block) {
            #expect(block.load(as: UInt64.self) == UInt64(index))
            try heap.deallocate(block)
        }
        #expect(heap.statistics.inUseBytes == 0)
        heap.trim()
    }

    /// The free path's per-thread segment cache must not outlive the segment: after
    /// `trim()` unmaps a segment the cache confirmed, a pointer into it is `.foreignPointer`
    /// (a stale hit would read the unmapped header and fault).
    @Test(arguments: [true, false])
    func pointerIntoATrimmedSegmentThatWasCachedIsForeign(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let block = try heap.allocate(byteCount: 48, alignment: 8)
        block.storeBytes(of: 0x5A5A, as: UInt.self)
        #expect(block.load(as: UInt.self) == 0x5A5A)
        try heap.deallocate(block)
        let base = UInt(bitPattern: block) & ~SegmentLayout.segmentMask
        let table = try #require(ThreadRecord.slot.value)
        let cached = ThreadRecord.segmentCache(table).pointee
        #expect(cached.segmentBase == base && cached.heapID == heap.id)
        let levelOne = try #require(SegmentRegistry.shared.levelOne)
        let epoch = SegmentRegistry.unmapEpoch(levelOne: levelOne).pointee.load(ordering: .relaxed)
        #expect(cached.epoch <= epoch)
        heap.trim()
        #expect(heap.statistics.mappedSegments == 0)
        #expect(SegmentRegistry.unmapEpoch(levelOne: levelOne).pointee.load(ordering: .relaxed) > epoch)
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(block) }
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(block + 64) }
        // The heap stays usable and the cache refills for the new segment.
        let again = try heap.allocate(byteCount: 48, alignment: 8)
        try heap.deallocate(again)
        #expect(ThreadRecord.segmentCache(table).pointee.segmentBase
            == UInt(bitPattern: again) & ~SegmentLayout.segmentMask)
        heap.trim()
    }

    @Test func badSizesAndAlignmentsAreTypedErrors() throws {
        let heap = try SizeClassHeap()
        for alignment in [0, 3, 24, -8, 2 << 20] {
            #expect(throws: OffHeapError.invalidAlignment(alignment)) {
                _ = try heap.allocate(byteCount: 16, alignment: alignment)
            }
        }
        #expect(throws: OffHeapError.sizeTooLarge(requested: -1, limit: SizeClassHeap.maximumByteCount)) {
            _ = try heap.allocate(byteCount: -1, alignment: 8)
        }
        #expect(
            throws: OffHeapError.sizeTooLarge(
                requested: Int.max, limit: SizeClassHeap.maximumByteCount)
        ) {
            _ = try heap.allocate(byteCount: Int.max, alignment: 8)
        }
        // Within the limit: mapped lazily (MAP_NORESERVE) or refused with a typed error.
        do {
            let vast = try heap.allocate(byteCount: 1 << 45, alignment: 8)
            #expect(try heap.usableSize(of: vast) >= 1 << 45)
            try heap.deallocate(vast)
            heap.trim()
        } catch {
            #expect(error.kind == .mappingFailed)
        }
        let block = try heap.allocate(byteCount: 8, alignment: 8)
        try heap.deallocate(block)
    }

    /// Addresses below the first segment (base 0) and other low addresses: a typed error
    /// from every entry point, in both modes, in debug and release (no unwrap of a nil base).
    @Test(arguments: [true, false])
    func lowAddressesAreForeignNotATrap(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let keep = try heap.allocate(byteCount: 64, alignment: 8)
        for address in [8, 0x1000, 0x10_0000, (4 << 20) - 8, 4 << 20, (4 << 20) + 64] {
            let pointer = try #require(UnsafeMutableRawPointer(bitPattern: UInt(address)))
            #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(pointer) }
            #expect(throws: OffHeapError.foreignPointer) { _ = try heap.usableSize(of: pointer) }
            #expect(throws: OffHeapError.foreignPointer) {
                _ = try heap.reallocate(pointer, byteCount: 16)
            }
        }
        try heap.deallocate(keep)
        #expect(heap.statistics.inUseBytes == 0)
    }

    /// `maximumByteCount` is documented as accepted: it may fail to map (a typed
    /// `.mappingFailed`), but it is never `.sizeTooLarge`; one byte more is.
    @Test func maximumByteCountIsAcceptedOneMoreIsNot() throws {
        let heap = try SizeClassHeap()
        do {
            let block = try heap.allocate(byteCount: SizeClassHeap.maximumByteCount, alignment: 8)
            #expect(try heap.usableSize(of: block) >= SizeClassHeap.maximumByteCount)
            try heap.deallocate(block)
            heap.trim()
        } catch {
            #expect(error.kind == .mappingFailed, "\(error)")
        }
        for alignment in [8, 4096, 1 << 20] {
            #expect(
                throws: OffHeapError.sizeTooLarge(
                    requested: SizeClassHeap.maximumByteCount + 1, limit: SizeClassHeap.maximumByteCount)
            ) {
                _ = try heap.allocate(byteCount: SizeClassHeap.maximumByteCount + 1, alignment: alignment)
            }
        }
    }

    @Test func badConfigurationIsRejected() {
        #expect(throws: OffHeapError.self) {
            _ = try SizeClassHeap(configuration: .init(maximumCachedSegments: -1))
        }
        #expect(throws: OffHeapError.self) {
            _ = try SizeClassHeap(configuration: .init(retainedEmptyPageBytes: -5))
        }
    }
}
