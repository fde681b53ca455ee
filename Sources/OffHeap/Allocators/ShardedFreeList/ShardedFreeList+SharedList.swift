import Synchronization

// The seam between ShardedFreeList and the shared list under it. Everything the magazines
// need from that list goes through these few functions, so the list type is swappable.
extension ShardedFreeList {
    /// The shared list type (interim stand-in until `FreeList` lands on main).
    @usableFromInline internal typealias GlobalList = ShardedGlobalList

    /// A private shared list for `configuration`, every slot free.
    internal static func makeGlobalList(
        _ configuration: Configuration
    ) throws(OffHeapError) -> GlobalList {
        try ShardedGlobalList(stride: configuration.slotStride, capacity: configuration.capacity)
    }

    /// The head's tag: successful CASes on the shared list so far (mod 2³²).
    internal static func operationCount(of list: GlobalList) -> UInt32 {
        UInt32(truncatingIfNeeded: list.head.pointee.load(ordering: .acquiring) >> 32)
    }

    /// Pops up to `limit` slots with one successful CAS.
    @usableFromInline
    internal static func popChain(
        _ list: GlobalList, upTo limit: Int
    ) throws(OffHeapError) -> (first: UInt32, count: Int) {
        let popped = try list.popChain(upTo: limit)
        return (popped.first, popped.count)
    }

    /// Pushes a chain linked with `setNextIndex` with one successful CAS.
    ///
    /// The list is private to one `ShardedFreeList` and never reset, so the only error a
    /// push can report (`concurrentReset`) cannot happen; were it to, the slots would
    /// already be free again (that is what a reset means), so dropping the error loses
    /// nothing.
    @usableFromInline
    internal static func pushChain(_ list: GlobalList, first: UInt32, last: UInt32, count: Int) {
        try? list.pushChain(first: first, last: last, count: count, epoch: list.currentEpoch)
    }
}
