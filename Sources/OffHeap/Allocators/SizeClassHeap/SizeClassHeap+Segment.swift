import Synchronization

/// Geometry of a segment: a 4 MiB, 4 MiB-aligned reservation split into 64 units of 64 KiB.
///
/// ```
/// unit 0        SegmentHeader, then 64 PageMeta descriptors (one per unit)
/// unit 1        checked mode: allocated-block bitmaps, 1 KiB per unit (owner-written)
/// unit 2        checked mode: remotely-freed bitmaps, 1 KiB per unit (atomic OR)
/// units 3…63    pages: one size class each, 1 or 4 units long
/// ```
/// A block's page is found with no lookup: mask the address to the segment base, shift the
/// offset to a unit index, and follow that unit's `leader` to the page's first descriptor.
/// Huge segments (one large allocation each) have only the header; the block follows it.
@usableFromInline
internal enum SegmentLayout {
    @inlinable static var segmentShift: Int { 22 }
    @inlinable static var segmentSize: Int { 1 << segmentShift }
    @inlinable static var segmentMask: UInt { UInt(segmentSize - 1) }
    @inlinable static var unitShift: Int { 16 }
    @inlinable static var unitSize: Int { 1 << unitShift }
    @inlinable static var unitCount: Int { 64 }
    @inlinable static var metadataUnits: Int { 3 }
    /// Bits of the units pages may use (3…63).
    @inlinable static var usableUnitsMask: UInt64 { ~UInt64(0b111) }
    @inlinable static var bitmapBytesPerUnit: Int { 1024 }
    @inlinable static var magic: UInt64 { 0x5348_4541_5053_4547 }  // "SHEAPSEG"
    @inlinable static var kindSmall: UInt8 { 0 }
    @inlinable static var kindHuge: UInt8 { 1 }

    @inlinable static var pageMetaOffset: Int {
        (MemoryLayout<SegmentHeader>.stride + 63) & ~63
    }

    @inlinable @inline(__always)
    static func header(_ segment: UnsafeMutableRawPointer) -> UnsafeMutablePointer<SegmentHeader> {
        segment.assumingMemoryBound(to: SegmentHeader.self)
    }

    @inlinable @inline(__always)
    static func pageMeta(_ segment: UnsafeMutableRawPointer, _ unit: Int) -> PagePointer {
        (segment + pageMetaOffset).assumingMemoryBound(to: PageMeta.self) + unit
    }

    /// First byte of the page whose descriptor is `page` (descriptors are 64 bytes apart).
    @inlinable @inline(__always)
    static func pageStart(_ page: PagePointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: pageStartAddress(page))!
    }

    /// ``pageStart(_:)`` as an address, for the checked fast paths that only do arithmetic
    /// with it (no nil test).
    @inlinable @inline(__always)
    static func pageStartAddress(_ page: PagePointer) -> UInt {
        let address = UInt(bitPattern: page)
        let segment = address & ~segmentMask
        let unit = ((address & segmentMask) &- UInt(pageMetaOffset)) &>> 6
        return segment | (unit &<< UInt(unitShift))
    }

    /// 64-bit words of the allocated bitmaps; unit `u`'s 128 words start at `u * 128`.
    @inlinable @inline(__always)
    static func allocatedBitmap(_ segment: UnsafeMutableRawPointer)
        -> UnsafeMutablePointer<Atomic<UInt64>>
    {
        (segment + unitSize).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// 64-bit words of the remotely-freed bitmaps, indexed like `allocatedBitmap`.
    @inlinable @inline(__always)
    static func remoteBitmap(_ segment: UnsafeMutableRawPointer)
        -> UnsafeMutablePointer<Atomic<UInt64>>
    {
        (segment + 2 * unitSize).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}

/// The first bytes of every segment.
///
/// Invariant: `magic`, `heapID`, `kind` are written before the segment is published in the
/// ``SegmentRegistry`` (release) and never change until it is unpublished; readers reach the
/// header only through a registry hit (acquire). `freeMask`, `dirtyMask`, the list links and
/// `cachedAt` are guarded by the owning heap's lock. `hugeLive` is the one field a free path
/// changes concurrently: exchanging it to 0 is how exactly one free of a huge block wins.
@usableFromInline
internal struct SegmentHeader: ~Copyable {
    @usableFromInline var magic: UInt64
    @usableFromInline var heapID: UInt64
    @usableFromInline var kind: UInt8
    /// Units not serving a page (heap lock).
    @usableFromInline var freeMask: UInt64
    /// Free units whose memory is still committed (heap lock).
    @usableFromInline var dirtyMask: UInt64
    @usableFromInline var next: UnsafeMutableRawPointer?
    @usableFromInline var prev: UnsafeMutableRawPointer?
    @usableFromInline var cachedAt: UInt64
    /// Bytes of the whole reservation.
    @usableFromInline var reservedBytes: Int
    /// Huge only: offset of the block from the segment base.
    @usableFromInline var hugeOffset: Int
    /// Huge only: 1 while the block is allocated.
    @usableFromInline let hugeLive: Atomic<UInt>

    @inlinable
    init(heapID: UInt64, kind: UInt8, reservedBytes: Int) {
        magic = SegmentLayout.magic
        self.heapID = heapID
        self.kind = kind
        freeMask = SegmentLayout.usableUnitsMask
        dirtyMask = 0
        next = nil
        prev = nil
        cachedAt = 0
        self.reservedBytes = reservedBytes
        hugeOffset = 0
        hugeLive = Atomic(0)
    }
}

@usableFromInline typealias PagePointer = UnsafeMutablePointer<PageMeta>

/// The descriptor of one unit; for the first unit of a page, the page itself.
///
/// Invariant (mimalloc's page discipline): `localFree`, `used`, `carved`, the list links and
/// `listState` belong to the thread whose heap record is in `owner`; nobody else touches
/// them (an abandoned page's fields are guarded by the heap lock instead, and ownership moves
/// only under that lock, which orders the old owner's writes before the new owner's reads).
/// Other threads free into `threadFree`, an MPSC stack whose links live in the dead blocks:
/// a push is a release CAS, the owner takes the whole stack with one acquiring exchange, so
/// the links it then reads were written before the pushes it observed. `used` counts blocks
/// handed out and not yet returned *to the owner*: remote frees lower it only when collected,
/// so a page can look busier than it is (its release is postponed), never emptier.
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
    /// Head of the remote-free stack (a block address), 0 when empty.
    @usableFromInline let threadFree: Atomic<UInt>
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
        threadFree = Atomic(0)
    }
}
