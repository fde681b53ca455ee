import Synchronization

/// The first bytes of every segment.
///
/// Invariant: `magic`, `heapID`, `kind` are written before the segment is published in the
/// ``SegmentRegistry`` (release) and never change until it is unpublished; readers reach the
/// header only through a registry hit (acquire). `freeMask`, `dirtyMask`, the list links,
/// `cachedAt` and `purgeAt` are guarded by the owning heap's lock. `hugeLive` is the one field a free path
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
    /// When the dirty units may be decommitted (HeapCore+Purge.swift); 0: none scheduled.
    @usableFromInline var purgeAt: UInt64
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
        purgeAt = 0
        self.reservedBytes = reservedBytes
        hugeOffset = 0
        hugeLive = Atomic(0)
    }
}
