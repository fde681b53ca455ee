import OffHeap
import OffHeapWorkloads

/// Cross-thread check of an allocator that frees in bulk (`Arena`, `SlabPool`, through
/// ``smokeCrossThreadRounds``): every round all threads allocate from it at once and publish
/// their blocks; each thread's neighbour verifies the blocks and hands them back with
/// `deallocate` (a no-op for bump-allocated blocks, an unmap for a slab pool's large blocks);
/// then thread 0 resets the allocator while the others wait at a barrier, so the next round
/// reuses the memory.
///
/// With `largeEvery > 0`, every `largeEvery`-th block asks for `largeSize` bytes.
func smokeBulkResetConcurrent<Pool: SmokeResettableAllocator>(
    _ name: String, _ pool: Pool, threads: Int, perThread: Int, rounds: Int,
    largeEvery: Int = 0, largeSize: Int = 0, report: SmokeReport
) throws(OffHeapError) {
    try smokeCrossThreadRounds(
        name, threads: threads, perThread: perThread, rounds: rounds, report: report,
        request: { cell in smokeRequest(cell, largeEvery: largeEvery, largeSize: largeSize) },
        pattern: blockPattern,
        allocate: { byteCount, alignment throws(OffHeapError) in
            try pool.allocate(byteCount: byteCount, alignment: alignment)
        },
        free: { block throws(OffHeapError) in try pool.deallocate(block) },
        afterRound: { thread in
            guard thread == 0 else { return }
            do throws(OffHeapError) {
                try pool.smokeReset()
                report.count()
            } catch {
                report.failed(name + " reset", error)
            }
        })
}

/// Allocates `byteCount`-byte blocks with `allocate` until it reports
/// ``OffHeapError/capacityExhausted(capacity:)`` (at most `limit` blocks), writing a pattern into each and
/// verifying them all afterwards. Returns the blocks.
func smokeFill(
    _ check: String, byteCount: Int, limit: Int, report: SmokeReport,
    allocate: () throws(OffHeapError) -> UnsafeMutableRawPointer
) -> [UnsafeMutableRawPointer] {
    var held: [UnsafeMutableRawPointer] = []
    var sawExhausted = false
    while held.count < limit {
        do throws(OffHeapError) {
            let block = try allocate()
            blockPattern(held.count, 9, 9).write(to: block, byteCount: byteCount)
            held.append(block)
            report.count()
        } catch {
            if error.isExhaustion { sawExhausted = true } else { report.failed(check, error) }
            break
        }
    }
    if !sawExhausted { report.failed(check, "not exhausted after \(held.count) blocks") }
    for (index, block) in held.enumerated()
    where !blockPattern(index, 9, 9).matches(block, byteCount: byteCount) {
        report.corrupted(check, slot: index)
    }
    return held
}

/// ``smokeFill(_:byteCount:limit:report:allocate:)`` with `byteCount`-byte blocks aligned to
/// 16 from a variable-size `pool`.
func smokeFill<Pool: VariableSizeAllocator>(
    _ check: String, _ pool: Pool, byteCount: Int, limit: Int, report: SmokeReport
) -> [UnsafeMutableRawPointer] {
    smokeFill(check, byteCount: byteCount, limit: limit, report: report) { () throws(OffHeapError) in
        try pool.allocate(byteCount: byteCount, alignment: 16)
    }
}

/// Exhaustion, recovery by reset, and stale or stray pointers on a small arena of
/// `capacity` bytes.
func smokeArenaLimits<Arena: SmokeResettableAllocator>(
    _ name: String, _ arena: Arena, capacity: Int, report: SmokeReport
) {
    let check = name + " exhaustion"
    let held = smokeFill(check, arena, byteCount: 64, limit: capacity / 64 + 1, report: report)
    if held.count * 64 > capacity { report.failed(check, "served more than \(capacity) bytes") }
    if held.count < capacity / 64 / 2 { report.failed(check, "exhausted after \(held.count) blocks") }
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
        try smokeForeignPointer(name, arena, report: report)
        _ = try arena.allocate(byteCount: 64, alignment: 16)
        report.count()
    } catch {
        report.failed(name + " recovery after reset", error)
    }
}

/// A page mapped outside the allocator must be rejected by its `deallocate`.
func smokeForeignPointer<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, report: SmokeReport
) throws(OffHeapError) {
    let foreign = try VirtualMemory.reserve(byteCount: VirtualMemory.pageSize, committed: true)
    report.expectRejectedPointer(name + " foreign pointer") { () throws(OffHeapError) in
        try pool.deallocate(foreign.base)
    }
    try VirtualMemory.release(foreign)
}

/// Slab exhaustion, large-block exhaustion and recovery, double free and interior pointers
/// of large blocks, and stale small blocks after a reset, on a pool of `maximumSlabs` slabs
/// of `slabSize` bytes and `maximumLarge` large-block entries.
func smokeSlabPoolLimits<Pool: SmokeResettableAllocator>(
    _ name: String, _ pool: Pool, slabSize: Int, maximumSlabs: Int, maximumLarge: Int,
    report: SmokeReport
) {
    let check = name + " exhaustion"
    let small = smokeFill(
        check + " (slabs)", pool, byteCount: 256, limit: slabSize / 256 * maximumSlabs + 1,
        report: report)
    if small.count < slabSize / 256 * (maximumSlabs - 1) {
        report.failed(check, "slabs exhausted after \(small.count) blocks")
    }
    let large = smokeFill(
        check + " (large)", pool, byteCount: slabSize, limit: maximumLarge + 1, report: report)
    if large.count != maximumLarge {
        report.failed(check, "\(large.count) large blocks, expected \(maximumLarge)")
    }
    do throws(OffHeapError) {
        guard let victim = large.last else { return }
        report.expectRejectedPointer(name + " interior pointer") { () throws(OffHeapError) in
            try pool.deallocate(victim + 64)
        }
        try pool.deallocate(victim)
        report.count()
        report.expect(name + " double free", .doubleFree) { () throws(OffHeapError) in
            try pool.deallocate(victim)
        }
        // Recovery: the freed entry serves a new large block.
        let again = try pool.allocate(byteCount: slabSize, alignment: 64)
        try pool.deallocate(again)
        report.count(2)
        try smokeForeignPointer(name, pool, report: report)
        try pool.smokeReset()
        report.count()
        if let stale = small.last {
            report.expect(name + " free after reset", .useAfterReset) { () throws(OffHeapError) in
                try pool.deallocate(stale)
            }
        }
        // After the reset the full capacity is back.
        let refill = smokeFill(
            check + " (after reset)", pool, byteCount: 256,
            limit: slabSize / 256 * maximumSlabs + 1, report: report)
        if refill.count < small.count { report.failed(check, "reset did not free every slab") }
        try pool.smokeReset()
        report.count()
    } catch {
        report.failed(name + " bad inputs", error)
    }
}
