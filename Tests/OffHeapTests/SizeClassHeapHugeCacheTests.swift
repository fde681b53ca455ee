import COffHeapShims
@testable import OffHeap
import Testing

@Suite("SizeClassHeap huge block cache")
struct SizeClassHeapHugeCacheTests {
    /// 100 freed huge blocks of assorted sizes (40–120 KiB) stay mapped under the default
    /// bounds (256 blocks, 64 MiB), and the next 100 requests of the same sizes reuse exactly
    /// those mappings: no new mapping, and the cache is empty again. (With the old default of
    /// 8 blocks, 92 of them were unmapped and mapped again: an mmap and a munmap per block.)
    @Test func freedHugeBlocksAreReusedUnderTheDefaultBounds() throws {
        let heap = try SizeClassHeap()
        let sizes = (0..<100).map { 40 * 1024 + ($0 * 823) % (80 * 1024) }
        var first: [UnsafeMutableRawPointer] = []
        for size in sizes { first.append(try heap.allocate(byteCount: size)) }
        #expect(heap.statistics.hugeBlocks == 100)
        for pointer in first { try heap.deallocate(pointer) }
        #expect(heap.statistics.hugeBlocks == 0)
        #expect(heap.statistics.cachedHugeBytes >= sizes.reduce(0, +))
        var second: [UnsafeMutableRawPointer] = []
        for size in sizes {
            let pointer = try heap.allocate(byteCount: size)
            pointer.initializeMemory(as: UInt8.self, repeating: 0xC3, count: size)
            second.append(pointer)
        }
        #expect(Set(second) == Set(first), "every request reused a cached mapping")
        #expect(heap.statistics.cachedHugeBytes == 0)
        for pointer in second { try heap.deallocate(pointer) }
    }

    /// A huge block's mapping is shorter than the 4 MiB window the segment registry names
    /// it by. Memory another allocator maps in the rest of that window (glibc's under
    /// liboffheap-malloc) is foreign, while the block is live and while it is cached after
    /// free: `.foreignPointer` (the caller hands it on), never `.interiorPointer` (which
    /// aborted a program under liboffheap-malloc at exit).
    @Test func memoryMappedBesideAHugeBlockInItsWindowIsForeign() throws {
        let heap = try SizeClassHeap()
        let block = try heap.allocate(byteCount: 64 * 1024)
        let window = UInt(bitPattern: block) & ~UInt((4 << 20) - 1)
        let target = UnsafeMutableRawPointer(bitPattern: window + (2 << 20))
        guard
            let foreign = offheap_mmap_anonymous(
                target, 4096, OFFHEAP_PROT_READ_WRITE, Int32(OFFHEAP_MAP_FIXED_NOREPLACE)),
            foreign == target
        else {
            // Something else holds that page already: nothing to test with.
            try heap.deallocate(block)
            return
        }
        defer { _ = offheap_munmap(foreign, 4096) }
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(foreign) }
        #expect(throws: OffHeapError.foreignPointer) { _ = try heap.usableSize(of: foreign) }
        try heap.deallocate(block)  // now cached: the window stays registered
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(foreign) }
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(block) }
        let again = try heap.allocate(byteCount: 64 * 1024)
        try heap.deallocate(again)
    }
}
