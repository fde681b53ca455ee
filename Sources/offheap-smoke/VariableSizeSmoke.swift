import OffHeap
import OffHeapWorkloads

/// Request sizes and alignments cycled through by the variable-size checks (all sizes hold a
/// full ``SlotPattern``).
let smokeSizes = [32, 48, 64, 100, 200, 256, 512, 1000]
let smokeAlignments = [8, 16, 8, 32, 8, 64, 16, 8]

@inline(__always)
func smokeRequest(_ index: Int) -> (byteCount: Int, alignment: Int) {
    (smokeSizes[index % smokeSizes.count], smokeAlignments[index % smokeAlignments.count])
}

/// Cross-thread check of a variable-size allocator that frees blocks one by one (`SlabPool`):
/// every thread allocates blocks of mixed sizes and alignments and writes a ``SlotPattern``
/// into each; after a barrier its neighbour verifies and frees them.
func smokeVariableSizeConcurrent<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, threads: Int, perThread: Int, rounds: Int,
    report: SmokeReport
) throws(OffHeapError) {
    let mailbox = try PointerMailbox(count: threads * perThread)
    let barrier = SpinBarrier(parties: threads)
    let check = name + " cross-thread"
    try PlatformThread.run(count: threads) { thread in
        let neighbour = (thread + 1) % threads
        for round in 0..<rounds {
            publishBlocks(pool, mailbox, thread: thread, perThread: perThread, round: round,
                          check: check, report)
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

/// Allocates `perThread` blocks for `thread`, writes their patterns and publishes them.
func publishBlocks<Pool: VariableSizeAllocator>(
    _ pool: Pool, _ mailbox: PointerMailbox, thread: Int, perThread: Int, round: Int,
    check: String, _ report: SmokeReport
) {
    for index in 0..<perThread {
        let cell = thread * perThread + index
        let request = smokeRequest(cell)
        do throws(OffHeapError) {
            let block = try pool.allocate(byteCount: request.byteCount, alignment: request.alignment)
            report.count()
            if Int(bitPattern: block) & (request.alignment - 1) != 0 {
                report.failed(check, "block misaligned for alignment \(request.alignment)")
            }
            blockPattern(cell, thread, round).write(to: block, byteCount: request.byteCount)
            mailbox.publish(block, at: cell)
        } catch {
            report.failed(check, error)
        }
    }
}

@inline(__always)
func blockPattern(_ cell: Int, _ owner: Int, _ round: Int) -> SlotPattern {
    SlotPattern(slot: UInt64(cell), owner: UInt64(owner), generation: UInt64(round) | 0x1_0000)
}

/// Size and alignment validation shared by every variable-size allocator: zero bytes,
/// impossible sizes and non-power-of-two alignments are typed errors, and the allocator
/// still serves a plain request afterwards.
func smokeVariableSizeBadRequests<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, report: SmokeReport
) {
    report.expect(name + " zero size", .zeroSize) { () throws(OffHeapError) in
        _ = try pool.allocate(byteCount: 0, alignment: 8)
    }
    report.expect(name + " oversized", .sizeTooLarge) { () throws(OffHeapError) in
        _ = try pool.allocate(byteCount: 1 << 50, alignment: 8)
    }
    report.expect(name + " alignment 24", .invalidAlignment) { () throws(OffHeapError) in
        _ = try pool.allocate(byteCount: 64, alignment: 24)
    }
    do throws(OffHeapError) {
        let block = try pool.allocate(byteCount: 64, alignment: 16)
        SlotPattern(slot: 1, owner: 2, generation: 3).write(to: block, byteCount: 64)
        report.count()
    } catch {
        report.failed(name + " usable after bad requests", error)
    }
}

/// Exhaustion, recovery, double free and stray pointers on a slab pool.
func smokeSlabPoolLimits<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, report: SmokeReport
) {
    let check = name + " exhaustion"
    var held: [UnsafeMutableRawPointer] = []
    var sawExhausted = false
    while held.count < 1 << 20 {
        do throws(OffHeapError) {
            held.append(try pool.allocate(byteCount: 256, alignment: 16))
            report.count()
        } catch {
            if error.kind == .exhausted { sawExhausted = true } else { report.failed(check, error) }
            break
        }
    }
    if !sawExhausted { report.failed(check, "never reported .exhausted") }
    if let last = held.popLast() {
        do throws(OffHeapError) {
            try pool.deallocate(last)
            held.append(try pool.allocate(byteCount: 256, alignment: 16))
            report.count(2)
        } catch {
            report.failed(name + " recovery", error)
        }
    }
    do throws(OffHeapError) {
        guard let victim = held.popLast() else { return }
        try pool.deallocate(victim)
        report.count()
        report.expect(name + " double free", .doubleFree) { () throws(OffHeapError) in
            try pool.deallocate(victim)
        }
        if let live = held.last {
            report.expectRejectedPointer(name + " interior pointer") { () throws(OffHeapError) in
                try pool.deallocate(live + 8)
            }
        }
        let foreign = try VirtualMemory.reserve(byteCount: VirtualMemory.pageSize, committed: true)
        report.expectRejectedPointer(name + " foreign pointer") { () throws(OffHeapError) in
            try pool.deallocate(foreign.base)
        }
        try VirtualMemory.release(foreign)
    } catch {
        report.failed(name + " bad inputs", error)
    }
    for block in held {
        do throws(OffHeapError) { try pool.deallocate(block) } catch { report.failed(check, error) }
    }
    report.count(held.count)
}
