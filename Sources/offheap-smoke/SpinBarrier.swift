import OffHeap
import Synchronization

/// A reusable barrier for a fixed number of threads that spins (with `sched_yield`) instead
/// of blocking, so it needs no lock and stays TSan-visible.
///
/// Invariant: `arrived` counts the threads that reached the current phase. The last one to
/// arrive resets `arrived` and then advances `phase` with a releasing store; every other
/// thread waits for `phase` to change with acquiring loads. Because the arrivals form a
/// release sequence on `arrived` (acquire-release increments), everything any thread wrote
/// before ``wait()`` is visible to every thread after ``wait()`` returns.
final class SpinBarrier: Sendable {
    let parties: Int
    let arrived = Atomic<Int>(0)
    let phase = Atomic<Int>(0)

    init(parties: Int) { self.parties = parties }

    func wait() {
        let current = phase.load(ordering: .acquiring)
        let (_, arrivedNow) = arrived.wrappingAdd(1, ordering: .acquiringAndReleasing)
        if arrivedNow == parties {
            arrived.store(0, ordering: .relaxed)
            phase.store(current &+ 1, ordering: .releasing)
        } else {
            while phase.load(ordering: .acquiring) == current { PlatformThread.yield() }
        }
    }
}
