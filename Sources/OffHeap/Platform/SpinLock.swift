import COffHeapShims
import Synchronization

/// A test-and-test-and-set lock on an `Atomic` (not `Synchronization.Mutex`: that one is not
/// Embedded-clean and TSan misreports it). Held only on slow paths, for short sections.
@usableFromInline
internal final class SpinLock: @unchecked Sendable {
    // @unchecked Sendable: the only state is an Atomic.
    @usableFromInline let word = Atomic<UInt32>(0)

    @usableFromInline init() {}

    @usableFromInline func lock() {
        var spins = 0
        while true {
            if word.load(ordering: .relaxed) == 0,
                word.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
            {
                return
            }
            spins += 1
            if spins > 32 { offheap_yield() }
        }
    }

    @usableFromInline func unlock() { word.store(0, ordering: .releasing) }
}
