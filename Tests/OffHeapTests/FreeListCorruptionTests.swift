import Testing

@testable import OffHeap

/// Checked mode's last line of defence: a free list whose links were corrupted (a wild write
/// into the metadata, or a bug in the allocator) lists a slot that is still allocated. The
/// pop must refuse it with `.freeListCorrupted`, never hand it to a second owner, and must not
/// mistake it for a `reset()` race (`.concurrentReset`). The seeded-defect catalogue's
/// `mutant-corrupt-link` row plants the same corruption in push itself.
@Suite("FreeList corruption")
struct FreeListCorruptionTests {
    @Test("checked mode refuses an allocated slot the corrupted list hands out")
    func corruptedLinkIsATypedError() throws {
        let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 16, growth: .preallocate(populate: false)))
        let first = try pool.allocate()    // slot 0
        let second = try pool.allocate()   // slot 1
        let third = try pool.allocate()    // slot 2
        try pool.deallocate(first)         // list: 0 → 3 → 4 …
        // Corrupt slot 0's link: its next now names slot 2, which `third` owns.
        let depth = FreeList.Link(raw: pool.links[0].load(ordering: .relaxed)).depth
        pool.links[0].store(FreeList.Link(next: 2, depth: depth).raw, ordering: .relaxed)
        #expect(try pool.allocate() == first)
        #expect(throws: OffHeapError.freeListCorrupted) { try pool.allocate() }
        // The owner of slot 2 still has it: nothing was handed out twice.
        #expect(pool.isAllocated(2))
        try pool.deallocate(third)
        try pool.deallocate(second)
    }

    @Test("unchecked mode trusts its links (no state table to consult)")
    func uncheckedModeHasNoVerdict() throws {
        let pool = try FreeList(
            configuration: .init(
                slotSize: 64, capacity: 16, growth: .preallocate(populate: false), checking: .unchecked))
        let first = try pool.allocate()
        let third = (try pool.allocate(), try pool.allocate()).1
        try pool.deallocate(first)
        let depth = FreeList.Link(raw: pool.links[0].load(ordering: .relaxed)).depth
        pool.links[0].store(FreeList.Link(next: 2, depth: depth).raw, ordering: .relaxed)
        #expect(try pool.allocate() == first)
        #expect(try pool.allocate() == third)   // handed out twice: what checked mode prevents
    }
}
