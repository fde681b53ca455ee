import OffHeap
import Synchronization

/// Races resets against allocations on an allocator that frees in bulk (Arena, SlabPool):
/// eight workers take `steps` steps each; workers 0 and 1 call `reset(step)` on every
/// `resetEvery`-th step, every other step (and every step of workers 2–7) calls
/// `allocate(step)`. The only errors allowed are exhaustion (`isExhaustion`) and `.concurrentReset`.
/// Returns, after the join, the number of other errors and of resets that succeeded.
///
/// ```swift
/// let race = try raceResetsAgainstAllocations(
///     steps: 400, resetEvery: 8, reset: { _ in try arena.reset() },
///     allocate: { _ in _ = try arena.allocate(byteCount: 64) })
/// #expect(race.unexpected == 0 && arena.statistics.resets == race.resets)
/// ```
public func raceResetsAgainstAllocations(
    steps: Int, resetEvery: Int,
    reset: @escaping @Sendable (_ step: Int) throws -> Void,
    allocate: @escaping @Sendable (_ step: Int) throws -> Void
) throws -> (unexpected: Int, resets: Int) {
    let unexpected = Atomic<Int>(0)
    let resets = Atomic<Int>(0)
    try PlatformThread.run(count: 8) { thread in
        for step in 0..<steps {
            do {
                if thread < 2 && step % resetEvery == 0 {
                    try reset(step)
                    resets.add(1, ordering: .relaxed)
                } else {
                    try allocate(step)
                }
            } catch {
                let kind = (error as? OffHeapError)?.kind
                if kind?.isExhaustion != true && kind != .concurrentReset {
                    unexpected.add(1, ordering: .relaxed)
                }
            }
        }
    }
    return (unexpected.load(ordering: .relaxed), resets.load(ordering: .relaxed))
}
