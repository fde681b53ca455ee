import Testing

@testable import OffHeap
@testable import OffHeapWorkloads

/// The stress hammer's lost-free check for `SizeClassHeap` (RunPlan.checkLiveBlocksAtRest):
/// a heap that grows on demand always passes the recovery phase's slot count, so a block
/// freed but never returned is seen only by the heap's live count at rest. A remote free
/// still pending on an abandoned page must not count as lost (trim collects it); a block
/// never freed must.
@Suite("Heap live blocks at rest")
struct HeapLiveBlocksAtRestTests {
    @Test("a block never freed fails recovery; a pending remote free does not")
    func liveBlocksAtRest() throws {
        let heap = try SizeClassHeap()
        let box = BlockBox()
        // Allocated on a thread that then exits: its page is abandoned, and the frees
        // below are remote frees into it, pending until something collects them.
        let worker = try PlatformThread {
            box.first = UInt(bitPattern: try? heap.allocate(byteCount: 64))
            box.second = UInt(bitPattern: try? heap.allocate(byteCount: 64))
        }
        worker.join()
        let first = try #require(UnsafeMutableRawPointer(bitPattern: box.first))
        let second = try #require(UnsafeMutableRawPointer(bitPattern: box.second))
        try heap.deallocate(first)

        var leaked = WorkloadResult(workload: "stress", allocator: "heap", threads: 1)
        leaked.recovered = true
        RunPlan.checkLiveBlocksAtRest(heap, &leaked)
        #expect(leaked.fact("heapLiveBlocksAtRest") == 1)
        #expect(leaked.recovered == false)

        try heap.deallocate(second)
        var clean = WorkloadResult(workload: "stress", allocator: "heap", threads: 1)
        clean.recovered = true
        RunPlan.checkLiveBlocksAtRest(heap, &clean)
        #expect(clean.fact("heapLiveBlocksAtRest") == 0)
        #expect(clean.recovered == true)
    }
}

private final class BlockBox: @unchecked Sendable {
    // @unchecked Sendable: written by one thread before `join`, read after it.
    var first: UInt = 0
    var second: UInt = 0
}
