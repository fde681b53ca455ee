import Synchronization

// The free gate: `reset()` waits for every free that is between its epoch check and its
// push, and no free can start one while a reset runs.
//
// Why. A free loads the reset epoch, checks it, then stores the pushed slot's link word and
// CASes the head. Without the gate a whole `reset()` could run between that check and the
// link store: the store then lands on the REBUILT list (the slot is free and listed again),
// and until the free's CAS fails, pops follow the stale link and can hand one slot to two
// owners. In instrumented builds the same window would let a free poison
// (for ASan/memcheck) a slot the reset had just handed to a new owner.
//
// Invariant: gate word = RESET bit | number of frees inside. A free enters with ONE
// fetch-add (acquire-release); if RESET was set it backs out (fetch-sub) and throws
// `.concurrentReset` without touching anything (the reset makes every slot free anyway).
// Inside, it loads the epoch, validates, writes links and pushes; it leaves with a
// releasing fetch-sub after its CAS (or error). `reset()` sets RESET with a fetch-or
// (another reset already holding it: `.concurrentReset`), then waits with acquire loads until
// the count is 0, and only then locks the head, bumps the epoch and rebuilds the links; it
// clears RESET (release) just before it publishes the rebuilt head, so a slot popped from
// the rebuilt list can always be freed. Unchecked pops are not gated, but one that finds the
// list empty while RESET is set throws `.concurrentReset` (the list drained because the
// waiting reset refuses frees), not an exhaustion error.
//
// Orderings. Both sides are read-modify-writes of one word, so each free's enter is either
// before the reset's fetch-or (the reset then waits for its leave, and the leave's release,
// read by the reset's acquire load through the release sequence of fetch-subs, orders every
// link store of that free before the rebuild) or after it (the free sees RESET and backs
// out). A free that enters after a reset reads the RESET-clearing store (release), so its
// epoch load sees the new epoch. Hence no link store of a free can follow a rebuild of its
// epoch: the window is closed in both modes, and `poisonAfterStaleLinkWrite()` remains only
// as a defence.
//
// Checked-mode allocations enter the gate too, from before their pop to after their state
// CAS (`popMarked()`, FreeList+Checked.swift): a pop that straddled a reset would otherwise
// mark a slot the reset had relisted, and the next popper of it would report a corrupted list.
//
// Cost: one uncontended RMW pair per public free (or per batch free), and per checked
// allocation. The word shares the head's cache line, which a free's CAS takes exclusive
// anyway. Unchecked pops are not gated (they write no link words and no states; the epoch
// re-check after their CAS covers them); `grow()` pushes under `growLock`, which `reset()`
// also holds, and `ShardedFreeList`'s private list is never reset, so neither pays for the
// gate.
extension FreeList {
    /// Offset of the gate word in the control block (on the head's cache line).
    @usableFromInline internal static let freeGateOffset = 32
    @usableFromInline internal static let freeGateReset: UInt64 = 1 << 63

    @inlinable @inline(__always)
    internal var freeGate: UnsafeMutablePointer<Atomic<UInt64>> {
        // `head` is the control block's first word (a plain stored pointer, as on the rest
        // of the hot path; reading `metadata`, an OwnedRegion, cost one more instruction).
        (UnsafeMutableRawPointer(head) + FreeList.freeGateOffset)
            .assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Enters the gate before a free loads the epoch.
    ///
    /// - Throws: ``OffHeapError/concurrentReset`` while a `reset()` runs (nothing changed).
    @inlinable @inline(__always)
    internal func enterFreeGate() throws(OffHeapError) {
        let old = freeGate.pointee.add(1, ordering: .acquiringAndReleasing).oldValue
        if _slowPath(old & FreeList.freeGateReset != 0) {
            freeGate.pointee.subtract(1, ordering: .releasing)
            throw .concurrentReset
        }
    }

    /// Leaves the gate after the free's push (or its error).
    @inlinable @inline(__always)
    internal func leaveFreeGate() {
        freeGate.pointee.subtract(1, ordering: .releasing)
    }

    /// Closes the gate for a reset and waits until no free is inside; `false` when another
    /// reset holds it.
    @usableFromInline
    internal func closeFreeGate() -> Bool {
        let old = freeGate.pointee.bitwiseOr(
            FreeList.freeGateReset, ordering: .acquiringAndReleasing
        ).oldValue
        if old & FreeList.freeGateReset != 0 { return false }
        while freeGate.pointee.load(ordering: .acquiring) != FreeList.freeGateReset {
            PlatformThread.yield()
        }
        return true
    }

    @usableFromInline
    internal func openFreeGate() {
        freeGate.pointee.bitwiseAnd(~FreeList.freeGateReset, ordering: .releasing)
    }
}
