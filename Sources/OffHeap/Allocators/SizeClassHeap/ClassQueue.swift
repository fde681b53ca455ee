import Synchronization

/// A thread's pages of one size class. `current` is the head of `active` (pages that may
/// have free blocks); exhausted pages wait in `full` until a local free moves them back to
/// `active` (second place, behind `current`), or a refill that finds no active page sweeps
/// `full` for remote frees. Sweeps that find nothing back off (`sweepSkip` refills without
/// one, doubling up to an eighth of the full list's length): a heap that only grows would
/// otherwise sweep every full page at every refill.
@usableFromInline
internal struct ClassQueue: ~Copyable {
    @usableFromInline var current: PagePointer?
    @usableFromInline var active: PagePointer?
    @usableFromInline var full: PagePointer?
    /// Refills left before the next sweep of `full`, and the current back-off length.
    @usableFromInline var sweepSkip: Int32
    @usableFromInline var sweepBackoff: Int32
    @usableFromInline let allocations: Atomic<UInt64>
    @usableFromInline let frees: Atomic<UInt64>

    @inlinable
    init() {
        current = nil
        active = nil
        full = nil
        sweepSkip = 0
        sweepBackoff = 0
        allocations = Atomic(0)
        frees = Atomic(0)
    }
}
