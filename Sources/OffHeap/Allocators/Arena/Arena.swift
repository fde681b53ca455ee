import Synchronization

/// A lock-free bump allocator over one reserved region: blocks are carved off in address
/// order and freed all at once by ``reset(decommit:)``.
///
/// ```swift
/// let arena = try Arena(capacity: 1 << 20)
/// let raw = try arena.allocate(byteCount: 24, alignment: 8)
/// let numbers = try arena.allocate(UInt64.self, count: 16)
/// numbers.initialize(repeating: 0)
/// try arena.reset()          // every block above is gone; the memory is reused
/// ```
///
/// ## Invariant
///
/// One atomic word, `state`, owns the arena's free space. It packs
/// `offset (bits 0..<48) | generation (bits 48..<63) | resetting (bit 63)`:
/// - Bytes `[0, offset)` of the region belong to blocks handed out in the current
///   generation; bytes `[offset, capacity)` belong to nobody. A block is owned by the thread
///   whose compare-exchange moved `offset` past it, and the only way to move `offset` is a
///   successful compare-exchange on `state`, so no two blocks of one generation overlap.
/// - `offset` only grows within a generation. `reset` is the only writer that lowers it, and
///   it does so by storing `offset 0` with `generation + 1` (a *release* store); allocations
///   compare-exchange with *acquiring* success ordering, so the bytes a block held in an
///   earlier generation (last written before the caller invoked `reset`) happen-before the
///   new owner's writes. The generation also means a compare-exchange prepared against the
///   old generation can never succeed after a reset, even when `offset` has climbed back
///   to the same value (ABA).
/// - While `resetting` is set, `reset` owns the whole region (it may be decommitting it):
///   allocations and a second `reset` fail with ``OffHeapError/concurrentReset`` instead of
///   touching memory that is being given back.
/// The offset is a byte offset, not a pointer: no pointer bits are ever used for tags. The
/// 48-bit field is why capacity is capped at ``maximumCapacity`` (2^47): an offset plus a
/// request (each ≤ 2^47) then never leaves the field.
///
/// ## Memory commitment
///
/// The region is reserved readable and writable up front with `MAP_NORESERVE`; the kernel
/// backs a page on first touch. The alternative — reserve `PROT_NONE` and `mprotect` ahead
/// of the bump pointer in large steps — needs a committed-watermark check (another shared
/// load) on the hot path and a slow path that must serialise concurrent commits; it only
/// pays off under `vm.overcommit_memory=2`, where `MAP_NORESERVE` is ignored and the whole
/// capacity is charged at creation. With the chosen scheme the fast path is exactly one
/// relaxed load and one compare-exchange.
///
/// ## Freeing
///
/// ``deallocate(_:)`` accepts any pointer to a block of the current generation as a no-op
/// (memory returns in bulk on ``reset(decommit:)``), rejects pointers outside the region with
/// ``OffHeapError/foreignPointer``, and rejects pointers at or beyond the current bump offset
/// — which no block of this generation can start at — with ``OffHeapError/useAfterReset``.
public final class Arena: VariableSizeAllocator, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is in `Atomic` values; the region itself is
    // handed out block by block under the invariant above.

    /// Largest capacity an arena accepts: 2^47 bytes (128 TiB).
    public static let maximumCapacity = 1 << 47

    @usableFromInline internal static let offsetMask: UInt64 = (1 << 48) - 1
    @usableFromInline internal static let generationShift: UInt64 = 48
    @usableFromInline internal static let generationMask: UInt64 = (1 << 15) - 1
    @usableFromInline internal static let resettingBit: UInt64 = 1 << 63

    /// The reserved region; `base` is page-aligned.
    @usableFromInline internal let region: VirtualRegion
    /// Usable bytes (the requested capacity rounded up to whole pages).
    public let capacity: Int
    /// Largest alignment ``allocate(byteCount:alignment:)`` accepts: the page size.
    public let maximumAlignment: Int

    /// `offset | generation << 48 | resetting << 63` (see the type's invariant).
    @usableFromInline internal let state: Atomic<UInt64>
    /// Highest offset reached by an earlier generation (folded in by `reset`).
    @usableFromInline internal let earlierPeak: Atomic<Int>
    /// Completed resets.
    @usableFromInline internal let resetCount: Atomic<Int>

    /// Reserves an arena of at least `capacity` bytes.
    ///
    /// - Parameters:
    ///   - capacity: bytes, rounded up to whole pages; 1 ... ``maximumCapacity``.
    ///   - hugePages: huge page policy for the region (a hint; see ``VirtualMemory``).
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)`` for a capacity out of range,
    ///   ``OffHeapError/mappingFailed(errno:)`` when the kernel refuses the reservation.
    public init(
        capacity: Int, hugePages: VirtualMemory.HugePages = .none
    ) throws(OffHeapError) {
        guard capacity > 0 else { throw .invalidConfiguration(reason: "capacity must be positive") }
        guard capacity <= Arena.maximumCapacity else {
            throw .invalidConfiguration(reason: "capacity exceeds Arena.maximumCapacity (2^47)")
        }
        let rounded = VirtualMemory.roundUp(capacity, to: VirtualMemory.pageSize)
        self.region = try VirtualMemory.reserve(
            byteCount: rounded, committed: true, hugePages: hugePages)
        self.capacity = rounded
        self.maximumAlignment = VirtualMemory.pageSize
        self.state = Atomic(0)
        self.earlierPeak = Atomic(0)
        self.resetCount = Atomic(0)
    }

    deinit {
        try? VirtualMemory.release(region)
    }
}
