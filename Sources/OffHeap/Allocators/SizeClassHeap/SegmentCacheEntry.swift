/// The calling thread's one-entry cache of the last small segment the ``SegmentRegistry``
/// confirmed for a heap: `segmentBase` was registered to `heapID` (and its header said
/// small) at some moment after the registry's unmap epoch read `epoch`. It lives right
/// after the 64 entries in the thread's table, so only that thread reads or writes it
/// (plain memory). All zero (heap id 0, which no heap has) means empty. See
/// `SizeClassHeap.smallPage` for why a hit is exactly as sound as a fresh registry lookup.
@usableFromInline
internal struct SegmentCacheEntry {
    @usableFromInline var heapID: UInt64
    @usableFromInline var segmentBase: UInt
    @usableFromInline var epoch: UInt

    @inlinable
    init(heapID: UInt64, segmentBase: UInt, epoch: UInt) {
        self.heapID = heapID
        self.segmentBase = segmentBase
        self.epoch = epoch
    }
}
