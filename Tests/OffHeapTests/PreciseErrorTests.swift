@testable import OffHeap
import Testing

/// Errors that name what actually happened (issue 14 item 10).
@Suite("Precise errors")
struct PreciseErrorTests {
    /// A raw pointer kept across `reset()` and freed: use after reset, not a double free
    /// (nothing was freed twice), while nobody has allocated the slot again.
    @Test func freeAfterResetIsUseAfterResetNotDoubleFree() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, capacity: 8))
        let kept = try pool.allocate()
        let freedBefore = try pool.allocate()
        try pool.deallocate(freedBefore)
        try pool.reset()
        #expect(throws: OffHeapError.useAfterReset) { try pool.deallocate(kept) }
        #expect(throws: OffHeapError.useAfterReset) { try pool.deallocate(freedBefore) }
        _ = [kept].withUnsafeBufferPointer { batch in
            #expect(throws: OffHeapError.useAfterReset) { try pool.deallocate(contentsOf: batch) }
        }
        // The pool is intact: all 8 slots come out once each.
        var all = Set<UnsafeMutableRawPointer>()
        while let slot = try? pool.allocate() { all.insert(slot) }
        #expect(all.count == 8)
        // Allocated again after the reset: freeing it twice is a real double free.
        try pool.deallocate(kept)
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(kept) }
        for slot in all where slot != kept { try pool.deallocate(slot) }
        #expect(pool.statistics.inUse == 0)
    }

    /// A block of a heap page that was never handed out, freed by the page's owner:
    /// `.foreignPointer` as documented, not `.doubleFree`.
    @Test func neverHandedOutBlockOfAHeapPageIsForeign() throws {
        let heap = try SizeClassHeap()
        let first = try heap.allocate(byteCount: 1024, alignment: 8)
        let size = try heap.usableSize(of: first)
        // Blocks far along the same 64 KiB page have not been carved yet.
        let untouched = first + 40 * size
        #expect(UInt(bitPattern: untouched) >> 16 == UInt(bitPattern: first) >> 16)
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(untouched) }
        #expect(throws: OffHeapError.foreignPointer) { _ = try heap.usableSize(of: untouched) }
        try heap.deallocate(first)
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(first) }
        #expect(heap.statistics.inUseBytes == 0)
    }
}
