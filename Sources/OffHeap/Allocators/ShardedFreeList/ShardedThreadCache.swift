import Synchronization

/// One thread's cache for one pool: a magazine of free slot indices plus counters, living in
/// the thread's off-heap ``ShardedThreadRecord``.
///
/// Invariant: only the owning thread writes any field, and only the owning thread reads the
/// magazine array, so the hot path uses plain loads and stores (the header words are
/// `Atomic` accessed with relaxed loads and stores, which compile to plain `mov`s, only so
/// that ``ShardedFreeList/statistics`` may read them from other threads without a data race).
/// `stamp` is the pool's registry generation the cache belongs to (0: unused); a cache whose
/// stamp differs from its pool's generation is stale and its contents are never used.
///
/// `tally = hits << 8 | count`: the magazine's fill (≤ ``ShardedFreeList/maximumMagazineSize``
/// = 128 < 2⁸) shares one word with the hits since the last slow path, so a hit is ONE load
/// and ONE store of that word (allocate adds ``allocateHit``: count − 1, hits + 1; deallocate
/// adds ``deallocateHit``: count + 1, hits + 1) instead of separate count and counter
/// updates. The count field never wraps into the hits field: the hot paths test it first
/// (allocate needs count > 0, deallocate count < magazineSize). Every slow path folds the
/// hits field into `foldedHits`, so the 56-bit field wraps only after 2⁵⁶ hits in a row
/// with no miss (years at 1 ns per operation). Hits = `foldedHits + tally >> 8`.
///
/// Layout (bytes): `stamp 0, tally 8, foldedHits 16, misses 24, refills 32, flushes 40`, then
/// the magazine `UInt32[maximumMagazineSize]` at 64.
@frozen @usableFromInline
internal struct ShardedThreadCache {
    @usableFromInline internal static let headerBytes = 64
    @usableFromInline internal static let stride =
        headerBytes + 4 * ShardedFreeList.maximumMagazineSize

    /// Bits of `tally` holding the magazine's fill.
    @usableFromInline internal static let countMask: UInt64 = 0xFF
    /// One hit in `tally`'s hits field.
    @usableFromInline internal static let oneHit: UInt64 = 0x100
    /// Added to `tally` by an allocate hit: one hit, one slot fewer.
    @usableFromInline internal static let allocateHit: UInt64 = oneHit &- 1
    /// Added to `tally` by a deallocate hit: one hit, one slot more.
    @usableFromInline internal static let deallocateHit: UInt64 = oneHit &+ 1

    /// The header's words by name (word `n` is at byte `8 n`; see the layout above).
    @usableFromInline
    internal enum Field: Int {
        case stamp = 0, tally, foldedHits, misses, refills, flushes
    }

    @usableFromInline internal let raw: UnsafeMutableRawPointer

    @inlinable @inline(__always)
    internal init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    @inlinable @inline(__always)
    internal func word(_ field: Field) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (raw + field.rawValue &* 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inlinable @inline(__always)
    internal var stamp: UInt64 {
        get { word(.stamp).pointee.load(ordering: .relaxed) }
        nonmutating set { word(.stamp).pointee.store(newValue, ordering: .relaxed) }
    }

    /// `hits << 8 | count` (see the type's comment).
    @inlinable @inline(__always)
    internal var tally: UInt64 {
        get { word(.tally).pointee.load(ordering: .relaxed) }
        nonmutating set { word(.tally).pointee.store(newValue, ordering: .relaxed) }
    }

    /// Slots in the magazine. Setting it keeps the unfolded hits.
    @inlinable @inline(__always)
    internal var count: Int {
        get { Int(truncatingIfNeeded: tally & Self.countMask) }
        nonmutating set {
            tally = tally & ~Self.countMask | UInt64(truncatingIfNeeded: newValue)
        }
    }

    /// Operations served by the magazine alone, folded and unfolded (owner: exact; other
    /// threads: some recent value).
    @inlinable @inline(__always)
    internal var hits: UInt64 { counter(.foldedHits) &+ (tally &>> 8) }

    /// Moves the hits field of `tally` (plus `extra`) into `foldedHits` and sets the count to
    /// `count`: the slow paths' single update of both.
    @inlinable @inline(__always)
    internal func fold(extraHits extra: UInt64, count: Int) {
        let hits = counter(.foldedHits) &+ (tally &>> 8) &+ extra
        word(.foldedHits).pointee.store(hits, ordering: .relaxed)
        tally = UInt64(truncatingIfNeeded: count)
    }

    /// Adds one to counter `field` (``Field/misses``, ``Field/refills``, ``Field/flushes``):
    /// a relaxed load and a relaxed store by the owner, never a read-modify-write.
    @inlinable @inline(__always)
    internal func bump(_ field: Field) {
        let counter = word(field)
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    internal func counter(_ field: Field) -> UInt64 { word(field).pointee.load(ordering: .relaxed) }

    @inlinable @inline(__always)
    internal var magazine: UnsafeMutablePointer<UInt32> {
        (raw + Self.headerBytes).assumingMemoryBound(to: UInt32.self)
    }

    /// Makes this cache empty and owned by the pool with generation `stamp`.
    @usableFromInline
    internal func reset(stamp: UInt64) {
        word(.tally).pointee.store(0, ordering: .relaxed)
        word(.foldedHits).pointee.store(0, ordering: .relaxed)
        word(.misses).pointee.store(0, ordering: .relaxed)
        word(.refills).pointee.store(0, ordering: .relaxed)
        word(.flushes).pointee.store(0, ordering: .relaxed)
        word(.stamp).pointee.store(stamp, ordering: .releasing)
    }
}
