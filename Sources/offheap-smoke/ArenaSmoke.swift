import OffHeap
import OffHeapWorkloads

/// Cross-thread check of a bump arena: every round all threads allocate from one arena at
/// once and publish their blocks, their neighbours verify them, and then one thread resets
/// the arena (while the others wait at a barrier) so the next round reuses the memory.
func smokeArenaConcurrent<Arena: SmokeResettableAllocator>(
    _ name: String, _ arena: Arena, threads: Int, perThread: Int, rounds: Int,
    report: SmokeReport
) throws(OffHeapError) {
    let mailbox = try PointerMailbox(count: threads * perThread)
    let barrier = SpinBarrier(parties: threads)
    let check = name + " cross-thread"
    try PlatformThread.run(count: threads) { thread in
        let neighbour = (thread + 1) % threads
        for round in 0..<rounds {
            publishBlocks(arena, mailbox, thread: thread, perThread: perThread, round: round,
                          check: check, report)
            barrier.wait()
            for index in 0..<perThread {
                let cell = neighbour * perThread + index
                guard let block = mailbox.take(at: cell) else { continue }
                if !blockPattern(cell, neighbour, round)
                    .matches(block, byteCount: smokeRequest(cell).byteCount)
                {
                    report.corrupted(check, slot: cell)
                }
                report.count()
            }
            barrier.wait()
            if thread == 0 {
                do throws(OffHeapError) {
                    try arena.smokeReset()
                    report.count()
                } catch {
                    report.failed(name + " reset", error)
                }
            }
            barrier.wait()
        }
    }
}

/// Exhaustion and recovery by reset on a small arena of `capacity` bytes.
func smokeArenaLimits<Arena: SmokeResettableAllocator>(
    _ name: String, _ arena: Arena, capacity: Int, report: SmokeReport
) {
    let check = name + " exhaustion"
    var allocated = 0
    var sawExhausted = false
    while allocated <= capacity {
        do throws(OffHeapError) {
            let block = try arena.allocate(byteCount: 64, alignment: 16)
            SlotPattern(slot: UInt64(allocated), owner: 0, generation: 0)
                .write(to: block, byteCount: 64)
            allocated += 64
            report.count()
        } catch {
            if error.kind == .exhausted { sawExhausted = true } else { report.failed(check, error) }
            break
        }
    }
    if !sawExhausted { report.failed(check, "never reported .exhausted") }
    if allocated > capacity { report.failed(check, "served \(allocated) > \(capacity) bytes") }
    do throws(OffHeapError) {
        // Recovery: a reset makes the whole capacity available again.
        try arena.smokeReset()
        let stale = try arena.allocate(byteCount: 8, alignment: 8)
        try arena.deallocate(stale)  // accepted as a no-op: arenas free in bulk
        try arena.smokeReset()
        report.count(4)
        report.expect(name + " free after reset", .useAfterReset) { () throws(OffHeapError) in
            try arena.deallocate(stale)
        }
        let foreign = try VirtualMemory.reserve(byteCount: VirtualMemory.pageSize, committed: true)
        report.expectRejectedPointer(name + " foreign pointer") { () throws(OffHeapError) in
            try arena.deallocate(foreign.base)
        }
        try VirtualMemory.release(foreign)
        _ = try arena.allocate(byteCount: 64, alignment: 16)
        report.count()
    } catch {
        report.failed(name + " recovery after reset", error)
    }
}
