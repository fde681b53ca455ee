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
}
