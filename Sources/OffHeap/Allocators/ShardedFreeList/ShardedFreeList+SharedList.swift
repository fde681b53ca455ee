import Synchronization

// The seam between ShardedFreeList and the shared `FreeList` under it. Everything the
// magazines need from that list goes through these few functions.
extension ShardedFreeList {
    /// The shared list type.
    @usableFromInline internal typealias GlobalList = FreeList

    /// A private shared list for `configuration`, every slot free.
    ///
    /// Preallocated (all slots linked at init; pages still backed lazily by the kernel), so
    /// every slot in the reservation is a valid slot: the range check in
    /// ``ShardedFreeList/slotIndex(of:)`` is exact without reading the list's grown-slot
    /// count, and the head's tag counts only magazine moves. Unchecked: this pool keeps its
    /// own state bytes, written without atomic read-modify-writes on the hit path, so the
    /// list's CAS-based state table would be redundant.
    internal static func makeGlobalList(
        _ configuration: Configuration
    ) throws(OffHeapError) -> GlobalList {
        try FreeList(
            configuration: .init(
                slotSize: configuration.slotSize, slotAlignment: configuration.slotAlignment,
                capacity: configuration.capacity, growth: .preallocate(populate: false),
                checking: .unchecked))
    }

    /// The head's tag: successful CASes on the shared list so far (mod 2³²).
    internal static func operationCount(of list: GlobalList) -> UInt32 {
        FreeList.Head(raw: list.head.pointee.load(ordering: .acquiring)).tag
    }

    /// Pops up to `limit` slots with one successful CAS.
    @usableFromInline
    internal static func popChain(
        _ list: GlobalList, upTo limit: Int
    ) throws(OffHeapError) -> (first: UInt32, count: Int) {
        let popped = try list.popChain(upTo: limit)
        return (popped.first, popped.count)
    }

    /// Pops up to `limit` slots with one successful CAS straight into `magazine[0 ..< n]`
    /// (recorded during the list's walk; a failed CAS rewalks from position 0, so only the
    /// successful walk's indices remain). Returns `n` (≥ 1).
    @usableFromInline
    internal static func popChain(
        _ list: GlobalList, upTo limit: Int, into magazine: UnsafeMutablePointer<UInt32>
    ) throws(OffHeapError) -> Int {
        try list.popChain(upTo: limit) { position, index in magazine[position] = index }.count
    }

    /// Pushes a chain linked with `setNextIndex` with one successful CAS.
    ///
    /// The list is private to one `ShardedFreeList` and never reset, so the only error a
    /// push can report (`concurrentReset`) cannot happen; were it to, the slots would
    /// already be free again (that is what a reset means), so dropping the error loses
    /// nothing.
    @usableFromInline
    internal static func pushChain(_ list: GlobalList, first: UInt32, last: UInt32, count: Int) {
        let epoch = list.epoch.pointee.load(ordering: .relaxed)
        try? list.pushChain(first: first, last: last, count: count, epoch: epoch)
    }
}
