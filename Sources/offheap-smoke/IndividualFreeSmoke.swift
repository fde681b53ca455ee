import OffHeap
import OffHeapWorkloads

/// Cross-thread check of a variable-size allocator that frees block by block
/// (`SizeClassHeap`, through ``smokeCrossThreadRounds``): every thread allocates blocks of
/// mixed sizes and alignments and writes a ``SlotPattern`` into each; after a barrier its
/// neighbour verifies and frees them (a remote free), so every round exercises the
/// allocator's cross-thread free path.
func smokeIndividualFreeConcurrent<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, threads: Int, perThread: Int, rounds: Int,
    report: SmokeReport
) throws(OffHeapError) {
    try smokeCrossThreadRounds(
        name, threads: threads, perThread: perThread, rounds: rounds, report: report,
        request: { cell in smokeRequest(cell) }, pattern: blockPattern,
        allocate: { byteCount, alignment throws(OffHeapError) in
            try pool.allocate(byteCount: byteCount, alignment: alignment)
        },
        free: { block throws(OffHeapError) in try pool.deallocate(block) })
}

/// Double free, interior and foreign pointers on an allocator that frees block by block;
/// it must stay usable afterwards.
func smokeIndividualFreeBadPointers<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, report: SmokeReport
) {
    do throws(OffHeapError) {
        let keep = try pool.allocate(byteCount: 256, alignment: 16)
        let victim = try pool.allocate(byteCount: 256, alignment: 16)
        try pool.deallocate(victim)
        report.count(3)
        report.expect(name + " double free", .doubleFree) { () throws(OffHeapError) in
            try pool.deallocate(victim)
        }
        report.expectRejectedPointer(name + " interior pointer") { () throws(OffHeapError) in
            try pool.deallocate(keep + 64)
        }
        try smokeForeignPointer(name, pool, report: report)
        blockPattern(0, 1, 2).write(to: keep, byteCount: 256)
        let again = try pool.allocate(byteCount: 256, alignment: 16)
        if !blockPattern(0, 1, 2).matches(keep, byteCount: 256) {
            report.corrupted(name + " bad pointers", slot: 0)
        }
        try pool.deallocate(again)
        try pool.deallocate(keep)
        report.count(3)
    } catch {
        report.failed(name + " bad pointers", error)
    }
}
