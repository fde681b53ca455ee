import COffHeapShims
import Synchronization

/// A fixed-size slot allocator with per-thread magazines over one shared lock-free free list.
///
/// Each thread keeps, per pool, a *magazine* of up to ``Configuration/magazineSize`` free
/// slot indices in its own off-heap record, found through the initial-exec TLS slot
/// `ThreadLocalSlot.shardedFreeListCaches` (which holds the record's byte offset in the
/// runtime's record reservation, 0 meaning the never-stamped sentinel record: the hot path
/// needs no nil test, see `ShardedRuntime`). A cache hit — `allocate()` with a non-empty
/// magazine, `deallocate(_:)` with a non-full one — performs no atomic read-modify-write:
/// one TLS load, a stamp compare, one load and one store of the cache's `tally` word and one
/// magazine access (see `ShardedThreadCache`), plus the state byte in checked mode. A miss
/// moves half a magazine between the thread and the shared list with one successful CAS. A
/// slot freed on any thread goes to that thread's magazine; a thread's magazines go back to
/// the shared list when it exits.
///
/// ```swift
/// let pool = try ShardedFreeList(slotSize: 64, capacity: 100_000)
/// let slot = try pool.allocate()
/// slot.storeBytes(of: 42, as: Int.self)
/// try pool.deallocate(slot)
/// ```
///
/// Invariants (who owns what):
/// - Every slot is in exactly one place: the shared list, exactly one thread's magazine for
///   this pool, or the caller's hands. Magazines move whole chains with one CAS
///   (``FreeList``'s chain primitives), so no slot is lost or duplicated between threads.
/// - A thread's cache for this pool is valid only while its `stamp` equals this pool's
///   registry generation; the thread-exit hook flushes it only while pinning the registry
///   row (see `ShardedRegistry`), and `deinit` unpublishes the row and waits for pins
///   first. Caches left in other threads for a destroyed pool are therefore never used,
///   flushed, or confused with a later pool that reuses the id.
/// - Checked mode keeps one state byte per slot (0 free, 1 allocated), written only by the
///   thread that currently holds the slot, with relaxed loads and stores. The bytes are
///   *spread* (`statePosition(_:)`): slot `i`'s byte is at `129 · i mod 2^b` in a table of
///   `2^b ≥ max(capacity · spacing, 64)` bytes (129 is odd, so this is a permutation), where
///   `spacing` is `stride / 32` rounded down to a power of two in 1 … 128. Neighbouring
///   slots' bytes are 129 bytes apart: on different cache lines and on different 128-byte
///   line pairs (the adjacent-line prefetcher fetches a line's pair), so two slots whose
///   indices differ by less than about `2^b / 129` never share a line or a pair of states.
///   Slots of 4 KiB and more (spacing 128) have a pair each, so threads that each churn
///   their own slots never write one line of states. (With 1 byte per slot and 65 apart,
///   rag's two threads, 6 KiB vectors, ran at 30 M ops/s on two cores and 116 M on one.)
///   Packed bytes (`states[i]`) let two threads cycling through neighbouring slots write
///   the same line on every operation: in the 2-thread benchmark the threads refill 0…31
///   and 32…63 and cycle on slots 31 and 63, one state line. Ownership moves
///   between threads only through the shared list (release CAS → acquire load) or through
///   the caller's own synchronisation when it hands a pointer to another thread, both of
///   which order the state byte. A *sequential* double free (any threads, ordered) is
///   therefore always detected. Two threads freeing the same pointer *at the same time* can
///   both read "allocated" before either writes "free" (a window of one load and one store);
///   that race is undetected and the slot may be handed out twice. Closing it needs an
///   atomic RMW per free, which the hit path (plain loads and stores only) does not pay.
///
/// Capacity note: slots sitting in other threads' magazines are not visible to a thread
/// whose magazine and the shared list are both empty; such an `allocate()` throws
/// ``OffHeapError/slotsCachedByOtherThreads(cached:capacity:)`` although up to `threads × magazineSize` slots are cached
/// elsewhere. Size `capacity` with that headroom, or call ``flushCallingThreadCache()``.
public final class ShardedFreeList: FixedSizeAllocator, @unchecked Sendable {
    // Hot-path map (grep the names):
    //   allocate()
    //     → callingThreadCacheOrSentinel   TLS offset + cacheBase      ShardedFreeList.swift
    //     → hit: magazine[count - 1], tally += allocateHit → handOut(_:)
    //     → miss: allocateSlow() → callingThreadCache()                 (stamps the cache)
    //         → ShardedRuntime.callingThreadRecord() → acquireRecord()  ShardedRuntime.swift
    //         → Self.popChain(global, upTo: refillCount, into:)         +SharedList.swift
    //             → FreeList.popChain(upTo:visiting:)   one CAS         FreeList+Stack.swift
    //         no record → allocateUncached() → popChain(global, upTo: 1)
    //   deallocate(_:)
    //     → slotIndex(of:)                 subtract, rotate, compare
    //     → checked: states[statePosition(_:)] 1 → 0 (load + store)
    //     → hit: magazine[count] = index, tally += deallocateHit
    //     → miss: deallocateSlow(_:) → ShardedRuntime.flush(_:from:count:into:)
    //         → Self.pushChain → FreeList.pushChain   one CAS           +SharedList.swift
    //   thread exit: ThreadExitRegistry → ShardedRuntime.threadExit(recordOffset:) → registry.pin → flush → unpin

    // @unchecked Sendable: stored properties are immutable after init; all mutable shared
    // state is `Atomic` in off-heap memory or owned by exactly one thread (see above).

    /// The configuration this pool was built with.
    public let configuration: Configuration
    /// Bytes usable in every slot.
    public var slotSize: Int { configuration.slotSize }
    /// Alignment of every slot's start.
    public var slotAlignment: Int { configuration.slotAlignment }
    /// Number of slots.
    public var capacity: Int { configuration.capacity }
    /// Whether `pointer` lies in the pool's slot reservation (any slot, free or not).
    @inlinable
    public func contains(_ pointer: UnsafeRawPointer) -> Bool { global.contains(pointer) }

    @usableFromInline internal let global: GlobalList
    @usableFromInline internal let runtime: ShardedRuntime
    @usableFromInline internal let base: UnsafeMutableRawPointer
    @usableFromInline internal let stride: Int
    /// `log2(stride)` when the stride is a power of two, else 0.
    @usableFromInline internal let strideShift: UInt
    /// `capacity` when the stride is a power of two, else 0: ``slotIndex(of:)``'s fast-path
    /// bound (0 sends every pointer to the dividing path).
    @usableFromInline internal let fastIndexLimit: UInt
    @usableFromInline internal let byteSpan: UInt
    @usableFromInline internal let alignmentMask: UInt
    @usableFromInline internal let magazineSize: Int
    @usableFromInline internal let refillCount: Int
    /// One state byte per slot when checked (at ``statePosition(_:)``), else `nil`.
    @usableFromInline internal let states: UnsafeMutablePointer<Atomic<UInt8>>?
    /// `2^b - 1` for the state table's `2^b` bytes (see ``statePosition(_:)``).
    @usableFromInline internal let stateMask: UInt
    let statesRegion: OwnedRegion?
    /// Registry row.
    @usableFromInline internal let id: Int
    /// This pool's column in the sentinel record (index 0) of the runtime's record
    /// reservation; the calling thread's column is at `cacheBase + ` the TLS slot's record
    /// offset.
    @usableFromInline internal let cacheBase: UnsafeMutableRawPointer
    /// Registry generation, as stamped on this pool's thread caches.
    @usableFromInline internal let stamp: UInt64

    /// Creates a pool; all slots start free.
    ///
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)``,
    ///   ``OffHeapError/mappingFailed(errno:)``, or ``OffHeapError/tooManyLivePools(limit:)`` when
    ///   ``maximumLiveInstances`` pools are alive.
    public init(configuration: Configuration) throws(OffHeapError) {
        try configuration.validate()
        guard let runtime = ShardedRuntime.shared else { throw .mappingFailed(errno: 12) }
        let global = try Self.makeGlobalList(configuration)
        let stride = Int(global.stride)
        // 2^b ≥ capacity · spacing bytes, spacing = stride / 32 as a power of two in 1 … 128
        // (≤ 1/32 of the slot memory): large slots get their state bytes on line pairs of
        // their own, so two threads churning their own slots do not write one line of states.
        let spacingBits = min(7, max(0, Int.bitWidth - 1 - (stride / 32).leadingZeroBitCount))
        let stateBits = max(
            6, Int.bitWidth - (configuration.capacity - 1).leadingZeroBitCount + spacingBits)
        stateMask = UInt(1) << UInt(stateBits) - 1
        if configuration.checking == .checked {
            let bytes = 1 << stateBits
            let region = try OwnedRegion(byteCount: bytes, committed: true)
            // Zero-filled: every slot starts free (0).
            states = region.base.bindMemory(to: Atomic<UInt8>.self, capacity: bytes)
            statesRegion = consume region
        } else {
            states = nil
            statesRegion = nil
        }
        // If the claim throws, `statesRegion` (owned) is unmapped as the init fails.
        let row = try runtime.registry.claim(list: global)
        self.configuration = configuration
        self.global = global
        self.runtime = runtime
        self.base = global.base
        self.stride = stride
        let powerOfTwo = stride & (stride - 1) == 0
        self.strideShift = powerOfTwo ? UInt(stride.trailingZeroBitCount) : 0
        self.fastIndexLimit = powerOfTwo ? UInt(configuration.capacity) : 0
        self.cacheBase = runtime.records.base + ShardedThreadRecord.headerBytes
            + row.id * ShardedThreadCache.stride
        self.byteSpan = UInt(stride) * UInt(configuration.capacity)
        self.alignmentMask = UInt(configuration.slotAlignment - 1)
        self.magazineSize = configuration.magazineSize
        self.refillCount = max(1, configuration.magazineSize / 2)
        self.id = row.id
        self.stamp = UInt64(row.generation)
    }

    /// Creates a pool of `capacity` slots of `slotSize` bytes with default settings.
    public convenience init(slotSize: Int, capacity: Int) throws(OffHeapError) {
        try self.init(configuration: Configuration(slotSize: slotSize, capacity: capacity))
    }

    deinit {
        // After `retire` no exiting thread can reach `global`; caches other threads still
        // hold for this pool keep only indices in their own records and are discarded when
        // their stamp no longer matches.
        runtime.registry.retire(id, generation: UInt32(truncatingIfNeeded: stamp))
        // `statesRegion` unmaps itself (OwnedRegion).
    }

    // MARK: - Hot paths
    //
    // Layout: every hit condition (stamp, count, the slot index's range) is `_fastPath`, so
    // LLVM places the hit path of an inlined `allocate()`/`deallocate(_:)` as one
    // fall-through block and moves the calls to the slow paths out of line (without the
    // hints the hit path is the taken side of its branches: more taken branches per pair).

    /// A free slot, now owned by the caller.
    ///
    /// - Throws: ``OffHeapError/capacityExhausted(capacity:)`` when every slot is in use;
    ///   ``OffHeapError/slotsCachedByOtherThreads(cached:capacity:)`` when neither the
    ///   calling thread's magazine nor the shared list has a slot but other threads'
    ///   magazines do.
    @inlinable @inline(__always)
    public func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        let cache = callingThreadCacheOrSentinel
        let tally = cache.tally
        let count = Int(truncatingIfNeeded: tally & ShardedThreadCache.countMask)
        if _fastPath(cache.stamp == stamp), _fastPath(count != 0) {
            let index = cache.magazine[count &- 1]
            cache.tally = tally &+ ShardedThreadCache.allocateHit
            return handOut(index)
        }
        return try allocateSlow()
    }

    /// Returns a slot obtained from ``allocate()`` of this pool, to the calling thread's
    /// magazine.
    ///
    /// - Throws: ``OffHeapError/foreignPointer``, ``OffHeapError/misalignedPointer``,
    ///   ``OffHeapError/interiorPointer``, and in checked mode ``OffHeapError/doubleFree``;
    ///   the pool is unchanged when it throws.
    @inlinable @inline(__always)
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        let index = try slotIndex(of: pointer)
        if let states {
            let state = states + statePosition(index)
            guard state.pointee.load(ordering: .relaxed) == 1 else { try Self.doubleFree() }
            state.pointee.store(0, ordering: .relaxed)
        }
        // The shared list's mempool: slots in magazines are as free as slots on the list.
        Instrumentation.freed(pointer, byteCount: stride, pool: base)
        let cache = callingThreadCacheOrSentinel
        let tally = cache.tally
        let count = Int(truncatingIfNeeded: tally & ShardedThreadCache.countMask)
        if _fastPath(cache.stamp == stamp), _fastPath(count < magazineSize) {
            cache.magazine[count] = index
            cache.tally = tally &+ ShardedThreadCache.deallocateHit
            return
        }
        deallocateSlow(index)
    }

    /// The slot index of `pointer`, by O(1) range arithmetic.
    ///
    /// Fast path (power-of-two stride): one subtract, one rotate, one compare. Rotating the
    /// offset right by `log2(stride)` moves any bits below the stride (an interior or
    /// misaligned pointer) to the top, so `rotated < capacity` holds exactly for slot starts
    /// and `rotated` is then the index. The base is page-aligned and the stride a multiple of
    /// the alignment, so a slot start is aligned. Errors are classified, and non-power-of-two
    /// strides (`fastIndexLimit == 0`) divided, out of line.
    @inlinable @inline(__always)
    internal func slotIndex(of pointer: UnsafeMutableRawPointer) throws(OffHeapError) -> UInt32 {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        let rotated = offset &>> strideShift | offset &<< (0 &- strideShift)
        guard _fastPath(rotated < fastIndexLimit) else { return try slotIndexDividing(pointer) }
        return UInt32(truncatingIfNeeded: rotated)
    }

    /// Byte offset of slot `index`'s state in `states`: `129 · index mod 2^b`, a permutation
    /// of `0 ..< 2^b` that puts neighbouring slots on different cache-line pairs (see the
    /// type's invariants). One multiply and one mask.
    @inlinable @inline(__always)
    internal func statePosition(_ index: UInt32) -> Int {
        Int(bitPattern: UInt(index) &* 129 & stateMask)
    }

    /// The calling thread's cache for this pool, possibly stale (stamp ≠ ``stamp``), or the
    /// sentinel record's never-stamped column when the thread has no record yet. Only a
    /// cache whose stamp matches may be used, and the sentinel's never does.
    @inlinable @inline(__always)
    internal var callingThreadCacheOrSentinel: ShardedThreadCache {
        ShardedThreadCache(cacheBase + ShardedRuntime.callingThreadRecordOffset)
    }

    /// Throws ``OffHeapError/doubleFree``, out of line: an inlined `throw` (error boxing and
    /// the throw hook) is several times the size of the hot path and blocks its inlining.
    @usableFromInline @inline(never)
    internal static func doubleFree() throws(OffHeapError) -> Never {
        throw .doubleFree
    }

    /// Why `pointer` is not a slot start of this pool.
    @inline(never)
    internal func rejection(of pointer: UnsafeMutableRawPointer) -> OffHeapError {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        if offset >= byteSpan { return .foreignPointer }
        if UInt(bitPattern: pointer) & alignmentMask != 0 { return .misalignedPointer }
        return .interiorPointer
    }

    /// ``slotIndex(of:)`` for a stride that is not a power of two, and the rejection of a
    /// pointer that is not a slot start.
    @usableFromInline @inline(never)
    internal func slotIndexDividing(
        _ pointer: UnsafeMutableRawPointer
    ) throws(OffHeapError) -> UInt32 {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        guard offset < byteSpan else { throw .foreignPointer }
        let (quotient, remainder) = offset.quotientAndRemainder(dividingBy: UInt(stride))
        guard remainder == 0 else { throw rejection(of: pointer) }
        return UInt32(truncatingIfNeeded: quotient)
    }

    @inlinable @inline(__always)
    internal func handOut(_ index: UInt32) -> UnsafeMutableRawPointer {
        if let states { states[statePosition(index)].store(1, ordering: .relaxed) }
        let slot = base + Int(index) &* stride
        Instrumentation.allocated(slot, byteCount: stride, pool: base)
        return slot
    }

    // MARK: - Slow paths

    /// The calling thread's cache for this pool, stamping it on first use; `nil` when the
    /// thread has no record (all records in use).
    @usableFromInline
    internal func callingThreadCache() -> ShardedThreadCache? {
        guard let record = runtime.callingThreadRecord() else { return nil }
        let cache = record.cache(id)
        if cache.stamp != stamp {
            // Empty, or stale from a destroyed pool that had this id: start afresh.
            cache.reset(stamp: stamp)
            record.activeMask |= 1 << UInt64(id)
        }
        return cache
    }

    @usableFromInline @inline(never)
    internal func allocateSlow() throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard let cache = callingThreadCache() else { return try allocateUncached() }
        var count = cache.count
        assert(count <= magazineSize, "a magazine holds more than magazineSize slots")
        var hit: UInt64 = 1
        if count == 0 {
            cache.bump(.misses)
            // The magazine is empty and thread-owned: the list's walk writes it directly.
            do {
                count = try Self.popChain(global, upTo: refillCount, into: cache.magazine)
            } catch {
                throw exhaustion(error)
            }
            assert(count >= 1 && count <= refillCount, "a refill took more than refillCount slots")
            cache.bump(.refills)
            hit = 0
        }
        let index = cache.magazine[count - 1]
        cache.fold(extraHits: hit, count: count - 1)
        return handOut(index)
    }

    @usableFromInline @inline(never)
    internal func deallocateSlow(_ index: UInt32) {
        guard let cache = callingThreadCache() else { return deallocateUncached(index) }
        var count = cache.count
        assert(count <= magazineSize, "a magazine holds more than magazineSize slots")
        var hit: UInt64 = 1
        if count >= magazineSize {
            hit = 0
            cache.bump(.misses)
            // Hand back the older half (bottom) in one CAS; keep the recently freed top half.
            let half = magazineSize / 2
            ShardedRuntime.flush(cache, from: 0, count: half, into: global)
            let magazine = cache.magazine
            for position in 0..<(count - half) {
                magazine[position] = magazine[position + half]
            }
            count -= half
            cache.bump(.flushes)
        }
        cache.magazine[count] = index
        cache.fold(extraHits: hit, count: count + 1)
    }

    /// The path of a thread without a cache record (all
    /// `ShardedRuntime.maximumThreadRecords` are held by live threads): straight to the
    /// shared list, one CAS per operation.
    internal func allocateUncached() throws(OffHeapError) -> UnsafeMutableRawPointer {
        runtime.registry.counter(id, .misses).pointee.wrappingAdd(1, ordering: .relaxed)
        do {
            return handOut(try Self.popChain(global, upTo: 1).first)
        } catch {
            throw exhaustion(error)
        }
    }

    /// The shared list's `.capacityExhausted` told apart: when other live threads' magazines
    /// hold slots, ``OffHeapError/slotsCachedByOtherThreads(cached:capacity:)`` (the caller's
    /// own magazine is empty here). Other errors pass through.
    @usableFromInline @inline(never)
    internal func exhaustion(_ error: OffHeapError) -> OffHeapError {
        guard error.kind == .capacityExhausted else { return error }
        var cached = 0
        forEachThreadCache { cache in cached += cache.count }
        return cached > 0
            ? .slotsCachedByOtherThreads(cached: cached, capacity: configuration.capacity)
            : .capacityExhausted(capacity: configuration.capacity)
    }

    /// See ``allocateUncached()``; `index` is validated (and marked free) by the caller.
    internal func deallocateUncached(_ index: UInt32) {
        runtime.registry.counter(id, .misses).pointee.wrappingAdd(1, ordering: .relaxed)
        Self.pushChain(global, first: index, last: index, count: 1)
    }

    /// Hands every slot in the calling thread's magazine for this pool back to the shared
    /// list (one CAS). Other threads' magazines are untouched.
    public func flushCallingThreadCache() {
        guard let record = runtime.callingThreadRecordIfAny else { return }
        let cache = record.cache(id)
        guard cache.stamp == stamp else { return }
        let count = cache.count
        guard count > 0 else { return }
        ShardedRuntime.flush(cache, from: 0, count: count, into: global)
        cache.count = 0
        cache.bump(.flushes)
    }
}
