import Synchronization

// Instrumented builds only (`-DOFFHEAP_INSTRUMENTED`, see `Instrumentation`): the free gate.
//
// A free tells the checkers "this slot is free" (poison) before it publishes the slot, so no
// other thread can be handed the slot in between. A `reset()` breaks that: it can make the
// slot free and hand it to a new owner while a free that passed its epoch check is between
// its check and its poison, and the poison would then land on the new owner's live slot (a
// report against correct code). So in instrumented builds every free runs inside a shared
// gate that `reset()` closes exclusively; ordinary builds have no gate (every member below
// is reached only behind `Instrumentation.isEnabled`).
//
// Invariant: gate word = RESET bit | number of frees inside. A free enters only while RESET
// is clear (CAS count → count + 1) and leaves with a decrement; `reset()` sets RESET (if it
// was already set, another reset runs: `.concurrentReset`), waits for the count to reach 0,
// and clears RESET when done. `reset()` closes the gate before it takes `growLock`, so a free
// that waits inside `pushChain` for a running reset cannot be waited for by that reset.
extension FreeList {
    @usableFromInline internal static let freeGateOffset = 256
    @usableFromInline internal static let freeGateReset: UInt64 = 1 << 63

    @inlinable
    internal var freeGate: UnsafeMutablePointer<Atomic<UInt64>> {
        (metadata.base + FreeList.freeGateOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @usableFromInline
    internal func enterFreeGate() {
        var current = freeGate.pointee.load(ordering: .relaxed)
        while true {
            if current & FreeList.freeGateReset != 0 {
                PlatformThread.yield()
                current = freeGate.pointee.load(ordering: .relaxed)
                continue
            }
            let (exchanged, original) = freeGate.pointee.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    @usableFromInline
    internal func leaveFreeGate() {
        freeGate.pointee.subtract(1, ordering: .releasing)
    }

    /// Closes the gate for a reset; `false` when another reset holds it.
    internal func closeFreeGate() -> Bool {
        let old = freeGate.pointee.bitwiseOr(FreeList.freeGateReset, ordering: .acquiringAndReleasing)
            .oldValue
        if old & FreeList.freeGateReset != 0 { return false }
        while freeGate.pointee.load(ordering: .acquiring) != FreeList.freeGateReset {
            PlatformThread.yield()
        }
        return true
    }

    internal func openFreeGate() {
        freeGate.pointee.bitwiseAnd(~FreeList.freeGateReset, ordering: .releasing)
    }
}
