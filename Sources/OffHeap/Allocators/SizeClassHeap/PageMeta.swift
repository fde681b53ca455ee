import Synchronization

@usableFromInline typealias PagePointer = UnsafeMutablePointer<PageMeta>

/// The descriptor of one unit; for the first unit of a page, the page itself.
///
/// Invariant (mimalloc's page discipline): `localFree`, `used`, `carved`, the list links and
/// `listState` belong to the thread whose heap record is in `owner`; nobody else touches
/// them (an abandoned page's fields are guarded by the heap lock instead, and ownership moves
/// only under that lock, which orders the old owner's writes before the new owner's reads).
/// Other threads free into the page's `threadFree` stack (``SegmentLayout/threadFree(_:)``:
/// on a line of its own, not in this descriptor), an MPSC stack whose links live in the dead blocks:
/// a push (one block, or a freeing thread's batch of this page's blocks: RemoteBatch.swift)
/// is a release CAS, the owner takes the whole stack with one acquiring exchange, so the
/// links it then reads were written before the pushes it observed. `used` counts blocks
/// handed out and not yet returned *to the owner*: remote frees lower it only when collected
/// (a batched one, after its batch is pushed), so a page can look busier than it is (its
/// release is postponed), never emptier.
/// `blockSize`, `leader`, `capacity` and `divisor` are set when the page is
/// formatted, before any block of it exists, and constant while blocks are live.
@usableFromInline
internal struct PageMeta: ~Copyable {
    // 64 bytes, one cache line: the fields a free touches share the line.
    @usableFromInline var localFree: UnsafeMutableRawPointer?
    @usableFromInline var next: PagePointer?
    @usableFromInline var prev: PagePointer?
    /// Address of the owning `ThreadHeap`, 0 when abandoned or free. The free path's owner
    /// test is `owner != 0 && owner.thread == caller's token` (no heap-id lookup; why that
    /// is exact is argued at ``ThreadHeap``). Non-zero only on a formatted page's first
    /// descriptor (format sets it last, release clears it first, other units' stay 0), so a
    /// passed owner test also means `blockSize != 0`: the free fast path tests only this.
    /// Stored with release when set to a record (format, adopt) and loaded with acquire by
    /// the free fast path (message passing: the record and descriptor it names are
    /// initialised before a reader dereferences them).
    @usableFromInline let owner: Atomic<UInt>
    /// Unused: keeps the descriptor 64 bytes, the stride `SegmentLayout` shifts by (the
    /// remote-free stack head that was here has a line of its own).
    @usableFromInline var reserved: UInt64
    @usableFromInline var used: Int32
    @usableFromInline var carved: Int32
    @usableFromInline var capacity: Int32
    /// 0 when this unit does not start a page.
    @usableFromInline var blockSize: Int32
    /// `(offset * divisor) >> 33 == offset / blockSize` for every offset in the page
    /// (exact because offset < 2^18 and blockSize < 2^15).
    @usableFromInline var divisor: UInt32
    @usableFromInline var classIndex: UInt8
    @usableFromInline var unitCount: UInt8
    /// Index of the first unit of the page this unit belongs to.
    @usableFromInline var leader: UInt8
    /// One of `PageMeta.inNoList`, `inActive`, `inFull`, `inAbandoned`.
    @usableFromInline var listState: UInt8

    @inlinable static var inNoList: UInt8 { 0 }
    @inlinable static var inActive: UInt8 { 1 }
    @inlinable static var inFull: UInt8 { 2 }
    @inlinable static var inAbandoned: UInt8 { 3 }

    @inlinable
    init(unit: UInt8) {
        localFree = nil
        next = nil
        prev = nil
        divisor = 0
        used = 0
        carved = 0
        capacity = 0
        blockSize = 0
        classIndex = 0
        unitCount = 0
        leader = unit
        listState = PageMeta.inNoList
        owner = Atomic(0)
        reserved = 0
    }
}
