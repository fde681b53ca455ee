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
/// - Let `end = min(offset, capacity)`. Bytes `[0, end)` of the region belong to blocks
///   handed out in the current generation; bytes `[end, capacity)` belong to nobody. The only
///   way to move `offset` up is an atomic read-modify-write on `state` (the fast path's
///   fetch-add or the slow path's compare-exchange), and a block belongs to the thread whose
///   read-modify-write moved `offset` from the block's start (or below it) to its end, with
///   that end ≤ `capacity`. Each such RMW claims a distinct range, so no two blocks of one
///   generation overlap. A fetch-add whose end lands beyond `capacity` claims nothing; the
///   failing thread pulls `offset` back to `capacity` (never below: no block ends past
///   `capacity`, so this is safe in any interleaving), which bounds the offset far below
///   2^48 and keeps the generation bits intact.
/// - `offset` is always a multiple of `granule` (every block is rounded up to it), so the
///   fast path's fetch-add returns an offset already aligned for alignments ≤ `granule`.
/// - `offset` only grows within a generation, except for the pull-back above. `reset` is
///   the only writer that lowers it: it stores `offset 0` with `generation + 1` (a
///   *release* store); allocations read-modify-write with *acquiring* ordering, so the bytes
///   a block held in an earlier generation (last written before the caller invoked `reset`)
///   happen-before the new owner's writes. The generation also means a compare-exchange
///   prepared against the old generation can never succeed after a reset, even when
///   `offset` has climbed back to the same value (ABA). (Should the 15-bit generation wrap
///   inside one retry window, the CAS would still be correct: its result depends only on
///   the word it compares against, whose free bytes are the same whenever it recurs.)
/// - While `resetting` is set, `reset` owns the whole region (it may be decommitting it):
///   allocations and a second `reset` fail with ``OffHeapError/concurrentReset`` without
///   touching memory. (A fast-path fetch-add may still bump the offset of the word during a
///   reset; that RMW sees the bit, claims nothing, and the reset's final store discards it.
///   Carrying into the generation bits would take 2^35 such attempts inside one reset.)
/// The offset is a byte offset, not a pointer: no pointer bits are ever used for tags. The
/// 48-bit field is why capacity is capped at ``maximumCapacity`` (2^47): an offset plus a
/// request (each ≤ 2^47) then never leaves the field.
///
/// ## Why a fetch-add fast path
///
/// Measured on the project VM (2 vCPU Xeon at 2 GHz, single thread, best of 400 × 50 000):
/// a bare `Atomic` fetch-add costs ~6.5 ns and a bare relaxed load + compare-exchange
/// ~11 ns; `allocate` costs ~9 ns on the fetch-add path and ~13 ns on the CAS path. So small
/// requests (≤ `fastPathLimit` bytes, alignment ≤ `granule`) use one fetch-add and the
/// rest use load + CAS. The price: when a fast-path request does not fit, the tail it
/// overshot (< `fastPathLimit` bytes) is forfeited until the next reset — a CAS cannot
/// safely undo a fetch-add once other threads may have added after it (a generation wrap
/// could make the undo lower the offset below live blocks). Exhaustion is therefore sticky
/// for requests larger than the lost tail. Note that one uncontended locked RMW alone costs
/// more than 3 ns on this VM; going below that needs per-thread chunks: ``Arena/Local``.
///
/// ## Memory commitment
///
/// The region is reserved readable and writable up front with `MAP_NORESERVE`; the kernel
/// backs a page on first touch. The alternative — reserve `PROT_NONE` and `mprotect` ahead
/// of the bump pointer in large steps — needs a committed-watermark check (another shared
/// load) on the hot path and a slow path that must serialise concurrent commits; it only
/// pays off under `vm.overcommit_memory=2`, where `MAP_NORESERVE` is ignored and the whole
/// capacity is charged at creation. With the chosen scheme the hot path is exactly one
/// fetch-add (small requests) or one relaxed load and one compare-exchange (the rest).
///
/// ## Checkers
///
/// In builds with `-DOFFHEAP_INSTRUMENTED` (see `Instrumentation`), bytes not handed out in
/// the current generation are inaccessible to memcheck and ASan: a block is made accessible
/// (memcheck: undefined) for exactly its requested size when handed out, so a read past the
/// request or any access after ``reset(decommit:)`` is reported. Blocks are not memcheck
/// chunks: an arena frees in bulk, so dropping a block's last pointer is no leak.
///
/// ## Freeing
///
/// ``deallocate(_:)`` accepts any pointer to a block of the current generation as a no-op
/// (memory returns in bulk on ``reset(decommit:)``), rejects pointers outside the region with
/// ``OffHeapError/foreignPointer``, and rejects pointers at or beyond the current bump offset
/// — which no block of this generation can start at — with ``OffHeapError/useAfterReset``.
public final class Arena: VariableSizeAllocator, @unchecked Sendable {
    // Hot-path map (grep the names):
    //   allocate(byteCount:alignment:)                                 Arena+Allocation.swift
    //     → ≤ fastPathLimit, alignment ≤ granule: state.wrappingAdd    one fetch-add
    //         past the end or resetting → fastPathFailed(old:)         clamp offset, throw
    //     → otherwise allocateAligned(size:alignment:) → claim(size:alignment:)  CAS loop
    //   Local.allocate(byteCount:alignment:)                            Arena+Local.swift
    //     → cursor bump when chunkIsCurrent                             two relaxed loads
    //     → allocateSlow → dropChunkIfStale → arena.claim(size: chunkSize)  one CAS
    //   deallocate(_:)  range and offset check only (no-op)            Arena+Allocation.swift
    //   reset(decommit:) → set resettingBit → decommit → next generation, resetCount += 1
    //                                                                  Arena+Reset.swift
    //   The region is reserved and committed once in init (VirtualMemory.reserve).

    // @unchecked Sendable: all mutable state is in `Atomic` values; the region itself is
    // handed out block by block under the invariant above.

    /// Largest capacity an arena accepts: 2^47 bytes (128 TiB).
    public static let maximumCapacity = 1 << 47

    @usableFromInline internal static let offsetMask: UInt64 = (1 << 48) - 1
    @usableFromInline internal static let generationShift: UInt64 = 48
    @usableFromInline internal static let generationMask: UInt64 = (1 << 15) - 1
    @usableFromInline internal static let resettingBit: UInt64 = 1 << 63

    /// Every block is rounded up to this many bytes, and every offset is a multiple of it.
    @usableFromInline package static let granule = 16
    @usableFromInline internal static let granuleMask: UInt64 = 15
    /// Requests up to this size (and alignment up to `granule`) take the fetch-add path.
    @usableFromInline package static let fastPathLimit = 4096

    /// The configuration this arena was made with (``capacity`` is its capacity rounded up
    /// to whole pages).
    public let configuration: Configuration
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

    /// Reserves an arena of at least `configuration.capacity` bytes.
    ///
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)`` for a capacity out of range,
    ///   ``OffHeapError/mappingFailed(errno:)`` when the kernel refuses the reservation.
    public init(configuration: Configuration) throws(OffHeapError) {
        let capacity = configuration.capacity
        let hugePages = configuration.hugePages
        guard capacity > 0 else { throw .invalidConfiguration(reason: "capacity must be positive") }
        guard capacity <= Arena.maximumCapacity else {
            throw .invalidConfiguration(reason: "capacity exceeds Arena.maximumCapacity (2^47)")
        }
        let rounded = VirtualMemory.roundUp(capacity, to: VirtualMemory.pageSize)
        self.region = try VirtualMemory.reserve(
            byteCount: rounded, committed: true, hugePages: hugePages)
        self.capacity = rounded
        self.configuration = configuration
        self.maximumAlignment = VirtualMemory.pageSize
        self.state = Atomic(0)
        self.earlierPeak = Atomic(0)
        self.resetCount = Atomic(0)
        // Checkers (instrumented builds): nothing is handed out yet.
        Instrumentation.noAccess(region.base, byteCount: rounded)
    }

    deinit {
        try? VirtualMemory.release(region)
    }
}
