import OffHeap
import OffHeapWorkloads

/// Cross-thread check of a variable-size allocator that frees block by block
/// (`SizeClassHeap`): every thread allocates blocks of mixed sizes and alignments and writes
/// a ``SlotPattern`` into each; after a barrier its neighbour verifies and frees them (a
/// remote free), so every round exercises the allocator's cross-thread free path.
func smokeIndividualFreeConcurrent<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, threads: Int, perThread: Int, rounds: Int,
    report: SmokeReport
) throws(OffHeapError) {
    let mailbox = try PointerMailbox(count: threads * perThread)
    let barrier = SpinBarrier(parties: threads)
    let check = name + " cross-thread"
    try PlatformThread.run(count: threads) { thread in
        let neighbour = (thread + 1) % threads
        for round in 0..<rounds {
            publishBlocks(
                pool, mailbox, thread: thread, perThread: perThread, round: round,
                largeEvery: 0, largeSize: 0, check: check, report)
            barrier.wait()
            for index in 0..<perThread {
                let cell = neighbour * perThread + index
                guard let block = mailbox.take(at: cell) else { continue }
                let size = smokeRequest(cell).byteCount
                if !blockPattern(cell, neighbour, round).matches(block, byteCount: size) {
                    report.corrupted(check, slot: cell)
                }
                do throws(OffHeapError) {
                    try pool.deallocate(block)
                    report.count(2)
                } catch {
                    report.failed(check, error)
                }
            }
            barrier.wait()
        }
    }
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
