import OffHeap
import OffHeapWorkloads

/// Cross-thread check of a fixed-size allocator (``smokeCrossThreadRounds``): every slot
/// carries a ``SlotPattern`` naming its cell, its owner and the round, and is verified and
/// freed by the owner's neighbour. Between rounds each thread also churns
/// allocate → write → verify → free on its own.
func smokeFixedSizeConcurrent<Pool: FixedSizeAllocator>(
    _ name: String, _ pool: Pool, threads: Int, perThread: Int, rounds: Int,
    report: SmokeReport
) throws(OffHeapError) {
    let check = name + " cross-thread"
    try smokeCrossThreadRounds(
        name, threads: threads, perThread: perThread, rounds: rounds, report: report,
        request: { _ in (pool.slotSize, pool.slotAlignment) },
        pattern: pattern, allocate: { _, _ throws(OffHeapError) in try pool.allocate() },
        free: { slot throws(OffHeapError) in try pool.deallocate(slot) },
        beforeExchange: { mailbox, thread, round in
            churn(pool, owner: thread, round: round, count: perThread, check: check, report)
            if SmokeFault.current == .corruptSlot, name == "FreeList", thread == 0, round == 1 {
                // Take a published slot and write over it as a second owner would.
                if let slot = mailbox.take(at: 0) {
                    pattern(0, threads, round).write(to: slot, byteCount: pool.slotSize)
                    mailbox.publish(slot, at: 0)
                }
            }
        })
}

/// Allocate, write, verify and free `count` times on the calling thread.
private func churn<Pool: FixedSizeAllocator>(
    _ pool: Pool, owner: Int, round: Int, count: Int, check: String, _ report: SmokeReport
) {
    for index in 0..<count {
        do throws(OffHeapError) {
            let slot = try pool.allocate()
            let expected = SlotPattern(
                slot: UInt64(index), owner: UInt64(owner) | 0x100, generation: UInt64(round))
            expected.write(to: slot, byteCount: pool.slotSize)
            if !expected.matches(slot, byteCount: pool.slotSize) {
                report.corrupted(check, slot: index)
            }
            try pool.deallocate(slot)
            report.count(3)
        } catch {
            report.failed(check, error)
        }
    }
}

@inline(__always)
private func pattern(_ cell: Int, _ owner: Int, _ round: Int) -> SlotPattern {
    SlotPattern(slot: UInt64(cell), owner: UInt64(owner), generation: UInt64(round))
}

/// Exhaustion (after exactly `capacity` slots), recovery and bad inputs on a small
/// fixed-size allocator.
func smokeFixedSizeLimits<Pool: FixedSizeAllocator>(
    _ name: String, _ pool: Pool, capacity: Int, report: SmokeReport
) {
    let check = name + " exhaustion"
    // Stop a little past `capacity` so that an allocator that overshoots is caught.
    var held = smokeFill(check, byteCount: pool.slotSize, limit: capacity + 8, report: report) {
        () throws(OffHeapError) in try pool.allocate()
    }
    if held.count != capacity {
        report.failed(check, "\(held.count) slots served, capacity is \(capacity)")
    }
    // Recovery: one free makes one allocation possible again.
    if let last = held.popLast() {
        do throws(OffHeapError) {
            try pool.deallocate(last)
            held.append(try pool.allocate())
            report.count(2)
        } catch {
            report.failed(name + " recovery", error)
        }
    }
    for slot in held {
        do throws(OffHeapError) { try pool.deallocate(slot) } catch { report.failed(check, error) }
    }
    report.count(held.count)

    // Bad inputs: each must be a typed error, and the pool must stay usable afterwards.
    do throws(OffHeapError) {
        let slot = try pool.allocate()
        try pool.deallocate(slot)
        report.count(2)
        report.expect(name + " double free", .doubleFree) { () throws(OffHeapError) in
            try pool.deallocate(slot)
        }
        report.expectRejectedPointer(name + " interior pointer") { () throws(OffHeapError) in
            let again = try pool.allocate()
            defer { try? pool.deallocate(again) }
            try pool.deallocate(again + 1)
        }
        let foreign = try VirtualMemory.reserve(byteCount: VirtualMemory.pageSize, committed: true)
        report.expectRejectedPointer(name + " foreign pointer") { () throws(OffHeapError) in
            try pool.deallocate(foreign.base)
        }
        try VirtualMemory.release(foreign)
        let after = try pool.allocate()
        try pool.deallocate(after)
        report.count(2)
    } catch {
        report.failed(name + " bad inputs", error)
    }
}
