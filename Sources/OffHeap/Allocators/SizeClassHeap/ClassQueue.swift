import Synchronization

/// A thread's pages of one size class. `current` is the head of `active` (pages that may
/// have free blocks); exhausted pages wait in `full` until a refill finds none elsewhere.
@usableFromInline
internal struct ClassQueue: ~Copyable {
    @usableFromInline var current: PagePointer?
    @usableFromInline var active: PagePointer?
    @usableFromInline var full: PagePointer?
    @usableFromInline let allocations: Atomic<UInt64>
    @usableFromInline let frees: Atomic<UInt64>

    @inlinable
    init() {
        current = nil
        active = nil
        full = nil
        allocations = Atomic(0)
        frees = Atomic(0)
    }
}
