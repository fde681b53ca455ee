import Synchronization

/// The words through which a Hyaline-backed structure names its nodes — a stack's `top`, a
/// queue's `head` and `tail` — each an `Atomic<UInt64>` (a node address or 0) on its own
/// 128-byte line of one committed off-heap page.
///
/// ```swift
/// let anchors = try storage.makeAnchors(count: 2, dummy: true)   // head, tail
/// let head = anchors[0]
/// ```
///
/// Invariant (ownership): the structure that made the anchors owns them and their page for its
/// whole life; anchor 0 names the first node of the chain the structure still links (the
/// stack's top, the queue's dummy). Only ``OffHeapNodes/tearDown(_:)``, from the structure's
/// `deinit`, unmaps the page. Ordering is the structure's business (see its invariant); the
/// initial values are plain stores, published with the structure itself.
@usableFromInline
internal struct NodeAnchors: Sendable {
    @usableFromInline internal let region: VirtualRegion

    /// Bytes between two anchors: each has a pair of cache lines to itself.
    @inlinable static var stride: Int { 128 }

    /// The largest number of anchors a page holds.
    static var capacity: Int { VirtualMemory.pageSize / stride }

    /// Maps a page of `count` anchors, each holding `initial`.
    init(count: Int, initial: UInt64) throws(OffHeapError) {
        precondition(count >= 1 && count <= Self.capacity, "NodeAnchors: bad count")
        region = try VirtualMemory.reserve(byteCount: VirtualMemory.pageSize, committed: true)
        for index in 0..<count {
            (region.base + index &* Self.stride).assumingMemoryBound(to: Atomic<UInt64>.self)
                .initialize(to: Atomic(initial))
        }
    }

    /// Anchor `index`.
    @inlinable @inline(__always)
    subscript(index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (region.base + index &* Self.stride).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}
