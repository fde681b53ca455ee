import Synchronization

/// The shared free list under a ``ShardedFreeList``: a Treiber stack of slot *indices* with a
/// tagged head, over one contiguous reservation.
///
/// This is the interim stand-in for `FreeList` (branch `freelist`), written against the
/// interface that type documents: slot index ↔ address arithmetic, links in an off-heap side
/// table, a head of `index 32 | tag 32`, and chain primitives that move a whole magazine with
/// one CAS. When `FreeList` lands, `ShardedFreeList.GlobalList` becomes a typealias for it.
///
/// Invariant: `head` is `index | tag << 32` where `index` is the top free slot or
/// ``nilIndex``; every successful CAS on `head` adds one to `tag`, so the tag delta counts
/// global-list operations and a CAS can never succeed against a head that changed in between
/// (ABA needs 2³² operations between one thread's load and its CAS). `links[i]` is the index
/// below `i` while `i` is on the stack; a pusher writes the links of its chain *before* its
/// releasing CAS, a popper reads them *after* its acquiring load, so every link a successful
/// popper relied on is the one the stack holds. Links read by a popper that then loses its
/// CAS may be stale; they are only indices (never dereferenced) and the walk is bounded.
@usableFromInline
internal final class ShardedGlobalList: @unchecked Sendable {
    // @unchecked Sendable: all shared state is `Atomic` in off-heap memory; the stored
    // properties are immutable after init.

    @usableFromInline internal static let nilIndex: UInt32 = .max

    @usableFromInline internal let region: VirtualRegion
    @usableFromInline internal let base: UnsafeMutableRawPointer
    @usableFromInline internal let stride: UInt
    @usableFromInline internal let capacity: Int
    @usableFromInline internal let head: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline internal let links: UnsafeMutablePointer<Atomic<UInt64>>

    /// Reserves `capacity` slots of `stride` bytes, all free, linked 0 → 1 → … → capacity − 1.
    internal init(stride: Int, capacity: Int) throws(OffHeapError) {
        let slotBytes = VirtualMemory.roundUp(stride * capacity, to: VirtualMemory.pageSize)
        let linkBytes = VirtualMemory.roundUp((capacity + 8) * 8, to: VirtualMemory.pageSize)
        let region = try VirtualMemory.reserve(byteCount: slotBytes + linkBytes, committed: true)
        self.region = region
        self.base = region.base
        self.stride = UInt(stride)
        self.capacity = capacity
        // Fresh anonymous memory is zero-filled, which is the representation of
        // `Atomic<UInt64>(0)`; each word is still initialised in place below.
        let side = (region.base + slotBytes).bindMemory(to: Atomic<UInt64>.self, capacity: capacity + 8)
        self.head = side
        self.links = side + 8
        head.initialize(to: Atomic(UInt64(0)))
        for index in 0..<capacity {
            let next = index + 1 < capacity ? UInt64(index + 1) : UInt64(Self.nilIndex)
            (links + index).initialize(to: Atomic(next))
        }
    }

    deinit {
        try? VirtualMemory.release(region)
    }

    /// Reset epoch (this list never resets).
    internal var currentEpoch: UInt64 { 0 }

    /// The next index below `index` in a chain the caller owns.
    @inlinable @inline(__always)
    internal func nextIndex(after index: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: links[Int(index)].load(ordering: .relaxed))
    }

    /// Links `index` → `next` in a chain the caller owns (published by ``pushChain``).
    @inlinable @inline(__always)
    internal func setNextIndex(of index: UInt32, to next: UInt32) {
        links[Int(index)].store(UInt64(next), ordering: .relaxed)
    }

    /// Pops up to `limit` slots with one successful CAS. Returns the first index of the
    /// popped chain (linked through ``next(of:)``) and its length; `count == 0` when empty.
    /// Same shape as `FreeList.popChain(upTo:)`: this list never grows or resets, so it
    /// throws only ``OffHeapError/exhausted`` and the epoch is always 0.
    @usableFromInline
    internal func popChain(
        upTo limit: Int
    ) throws(OffHeapError) -> (first: UInt32, count: Int, epoch: UInt64) {
        var current = head.pointee.load(ordering: .acquiring)
        while true {
            let first = UInt32(truncatingIfNeeded: current)
            if first == Self.nilIndex { throw .exhausted }
            var last = first
            var count = 1
            var below = nextIndex(after: last)
            while count < limit, below != Self.nilIndex {
                last = below
                count += 1
                below = nextIndex(after: last)
            }
            let tag = (current >> 32) &+ 1
            let desired = (tag << 32) | UInt64(below)
            let (exchanged, original) = head.pointee.compareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing,
                failureOrdering: .acquiring)
            if exchanged { return (first, count, 0) }
            current = original
        }
    }

    /// Pushes the chain `first` → … → `last` (already linked by the caller) with one
    /// successful CAS.
    @usableFromInline
    internal func pushChain(
        first: UInt32, last: UInt32, count: Int, epoch: UInt64
    ) throws(OffHeapError) {
        var current = head.pointee.load(ordering: .relaxed)
        while true {
            setNextIndex(of: last, to: UInt32(truncatingIfNeeded: current))
            let tag = (current >> 32) &+ 1
            let desired = (tag << 32) | UInt64(first)
            let (exchanged, original) = head.pointee.compareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing,
                failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
