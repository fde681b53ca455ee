import OffHeap
import OffHeapWorkloads

/// The round structure every cross-thread smoke check shares (`<name> cross-thread`).
///
/// Each of `rounds` rounds, on each of `threads` threads: allocate `perThread` blocks — the
/// block for mailbox cell `cell` asks for `request(cell)` — check their alignment, write
/// `pattern(cell, thread, round)` over their bytes and publish them in the thread's cells
/// (`thread * perThread ..< (thread + 1) * perThread`); run `beforeExchange`; wait at a
/// barrier; take the blocks of the neighbour (`thread + 1`), verify each still holds the
/// neighbour's pattern and `free` it (a cross-thread free); wait at a second barrier; then,
/// with `afterRound`, run it and wait at a third. Two owners of one block, or a block freed
/// early, leave a pattern that does not match.
///
/// ```swift
/// try smokeCrossThreadRounds(
///     "FreeList", threads: 4, perThread: 64, rounds: 40, report: report,
///     request: { _ in (pool.slotSize, pool.slotAlignment) },
///     pattern: { cell, owner, round in SlotPattern(slot: UInt64(cell), owner: UInt64(owner), generation: UInt64(round)) },
///     allocate: { _, _ in try pool.allocate() }, free: { try pool.deallocate($0) })
/// ```
func smokeCrossThreadRounds(
    _ name: String, threads: Int, perThread: Int, rounds: Int, report: SmokeReport,
    request: @escaping @Sendable (_ cell: Int) -> (byteCount: Int, alignment: Int),
    pattern: @escaping @Sendable (_ cell: Int, _ owner: Int, _ round: Int) -> SlotPattern,
    allocate: @escaping @Sendable (_ byteCount: Int, _ alignment: Int) throws(OffHeapError)
        -> UnsafeMutableRawPointer,
    free: @escaping @Sendable (_ block: UnsafeMutableRawPointer) throws(OffHeapError) -> Void,
    beforeExchange: (@Sendable (_ mailbox: PointerMailbox, _ thread: Int, _ round: Int) -> Void)? = nil,
    afterRound: (@Sendable (_ thread: Int) -> Void)? = nil
) throws(OffHeapError) {
    let mailbox = try PointerMailbox(count: threads * perThread)
    let barrier = SpinBarrier(parties: threads)
    let check = name + " cross-thread"
    try PlatformThread.run(count: threads) { thread in
        let neighbour = (thread + 1) % threads
        for round in 0..<rounds {
            for index in 0..<perThread {
                let cell = thread * perThread + index
                let (byteCount, alignment) = request(cell)
                do throws(OffHeapError) {
                    let block = try allocate(byteCount, alignment)
                    report.count()
                    if Int(bitPattern: block) & (alignment - 1) != 0 {
                        report.failed(check, "block misaligned for alignment \(alignment)")
                    }
                    pattern(cell, thread, round).write(to: block, byteCount: byteCount)
                    mailbox.publish(block, at: cell)
                } catch {
                    report.failed(check, error)
                }
            }
            beforeExchange?(mailbox, thread, round)
            barrier.wait()
            for index in 0..<perThread {
                let cell = neighbour * perThread + index
                guard let block = mailbox.take(at: cell) else { continue }
                if !pattern(cell, neighbour, round).matches(block, byteCount: request(cell).byteCount) {
                    report.corrupted(check, slot: cell)
                }
                do throws(OffHeapError) {
                    try free(block)
                    report.count(2)
                } catch {
                    report.failed(check, error)
                }
            }
            barrier.wait()
            if let afterRound {
                afterRound(thread)
                barrier.wait()
            }
        }
    }
}
