import COffHeapShims
import Synchronization

/// A fixed-size slot allocator with per-thread magazines over one shared lock-free free list.
///
/// Each thread keeps, per pool, a *magazine* of up to ``Configuration/magazineSize`` free
/// slot indices in its own off-heap record, found through the initial-exec TLS slot
/// ``ThreadLocalSlot/shardedFreeListCaches``. A cache hit — `allocate()` with a non-empty
/// magazine, `deallocate(_:)` with a non-full one — performs no atomic read-modify-write:
/// one TLS load, plain loads and stores in thread-owned memory. A miss moves half a magazine
/// between the thread and the shared list with one successful CAS. A slot freed on any
/// thread goes to that thread's magazine; a thread's magazines go back to the shared list
/// when it exits.
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
///   row (see ``ShardedRegistry``), and `deinit` unpublishes the row and waits for pins
///   first. Caches left in other threads for a destroyed pool are therefore never used,
///   flushed, or confused with a later pool that reuses the id.
/// - Checked mode keeps one state byte per slot (0 free, 1 allocated), written only by the
///   thread that currently holds the slot, with relaxed loads and stores. Ownership moves
///   between threads only through the shared list (release CAS → acquire load) or through
///   the caller's own synchronisation when it hands a pointer to another thread, both of
///   which order the state byte. A *sequential* double free (any threads, ordered) is
///   therefore always detected. Two threads freeing the same pointer *at the same time* can
///   both read "allocated" before either writes "free" (a window of one load and one store);
///   that race is undetected and the slot may be handed out twice. Closing it needs an
///   atomic RMW per free, which the issue rules out for the hit path.
///
/// Capacity note: slots sitting in other threads' magazines are not visible to a thread
/// whose magazine and the shared list are both empty; such an `allocate()` throws
/// ``OffHeapError/exhausted`` although up to `threads × magazineSize` slots are cached
/// elsewhere. Size `capacity` with that headroom, or call ``flushCallingThreadCache()``.
public final class ShardedFreeList: FixedSizeAllocator, @unchecked Sendable {
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

    @usableFromInline internal let global: GlobalList
    @usableFromInline internal let runtime: ShardedRuntime
    @usableFromInline internal let base: UnsafeMutableRawPointer
    @usableFromInline internal let stride: Int
    /// `log2(stride)` when the stride is a power of two, else -1.
    @usableFromInline internal let strideShift: Int
    /// `stride - 1` (meaningful when the stride is a power of two).
    @usableFromInline internal let strideMask: UInt
    @usableFromInline internal let byteSpan: UInt
    @usableFromInline internal let alignmentMask: UInt
    @usableFromInline internal let magazineSize: Int
    @usableFromInline internal let refillCount: Int
    /// One state byte per slot when checked, else `nil`.
    @usableFromInline internal let states: UnsafeMutablePointer<Atomic<UInt8>>?
    let statesRegion: VirtualRegion?
    /// Registry row.
    @usableFromInline internal let id: Int
    /// Byte offset of this pool's column in every thread record.
    @usableFromInline internal let cacheOffset: Int
    /// Registry generation, as stamped on this pool's thread caches.
    @usableFromInline internal let stamp: UInt64

    /// Creates a pool; all slots start free.
    ///
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)``,
    ///   ``OffHeapError/mappingFailed(errno:)``, or ``OffHeapError/exhausted`` when
    ///   ``maximumLiveInstances`` pools are alive.
    public init(configuration: Configuration) throws(OffHeapError) {
        try configuration.validate()
        guard let runtime = ShardedRuntime.shared else { throw .mappingFailed(errno: 12) }
        let global = try Self.makeGlobalList(configuration)
        let stride = Int(global.stride)
        if configuration.checked {
            let region = try VirtualMemory.reserve(byteCount: configuration.capacity, committed: true)
            // Zero-filled: every slot starts free (0).
            states = region.base.bindMemory(to: Atomic<UInt8>.self, capacity: configuration.capacity)
            statesRegion = region
        } else {
            states = nil
            statesRegion = nil
        }
        let row: (id: Int, generation: UInt32)
        do {
            row = try runtime.registry.claim(list: global)
        } catch {
            if let statesRegion { try? VirtualMemory.release(statesRegion) }
            throw error
        }
        self.configuration = configuration
        self.global = global
        self.runtime = runtime
        self.base = global.base
        self.stride = stride
        self.strideShift = stride & (stride - 1) == 0 ? stride.trailingZeroBitCount : -1
        self.strideMask = UInt(stride - 1)
        self.cacheOffset = ShardedThreadRecord.headerBytes + row.id * ShardedThreadCache.stride
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
        runtime.registry.retire(id)
        if let statesRegion { try? VirtualMemory.release(statesRegion) }
    }

    // MARK: - Hot paths

    /// A free slot, now owned by the caller.
    ///
    /// - Throws: ``OffHeapError/exhausted`` when neither the calling thread's magazine nor
    ///   the shared list has a slot.
    @inlinable
    public func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        if let raw = ThreadLocalSlot.shardedFreeListCaches.value {
            let cache = ShardedThreadCache(raw + cacheOffset)
            let count = cache.count
            if cache.stamp == stamp, count > 0 {
                let index = cache.magazine[count &- 1]
                cache.count = count &- 1
                cache.bump(2)
                return handOut(index)
            }
        }
        return try allocateSlow()
    }

    /// Returns a slot obtained from ``allocate()`` of this pool, to the calling thread's
    /// magazine.
    ///
    /// - Throws: ``OffHeapError/foreignPointer``, ``OffHeapError/misalignedPointer``,
    ///   ``OffHeapError/interiorPointer``, and in checked mode ``OffHeapError/doubleFree``;
    ///   the pool is unchanged when it throws.
    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        let index = try slotIndex(of: pointer)
        if let states {
            let state = states + Int(index)
            guard state.pointee.load(ordering: .relaxed) == 1 else { throw .doubleFree }
            state.pointee.store(0, ordering: .relaxed)
        }
        if let raw = ThreadLocalSlot.shardedFreeListCaches.value {
            let cache = ShardedThreadCache(raw + cacheOffset)
            let count = cache.count
            if cache.stamp == stamp, count < magazineSize {
                cache.magazine[count] = index
                cache.count = count &+ 1
                cache.bump(2)
                return
            }
        }
        deallocateSlow(index)
    }

    /// The slot index of `pointer`, by O(1) range arithmetic.
    ///
    /// Fast path (power-of-two stride): one subtract, one compare, one mask test, one shift.
    /// The base is page-aligned and the stride a multiple of the alignment, so a pointer at
    /// a slot start is aligned; errors are classified out of line.
    @inlinable @inline(__always)
    internal func slotIndex(of pointer: UnsafeMutableRawPointer) throws(OffHeapError) -> UInt32 {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        if strideShift >= 0 {
            guard offset < byteSpan, offset & strideMask == 0 else {
                throw rejection(of: pointer)
            }
            return UInt32(truncatingIfNeeded: offset &>> UInt(strideShift))
        }
        return try slotIndexDividing(pointer)
    }

    /// Why `pointer` is not a slot start of this pool.
    @usableFromInline @inline(never)
    internal func rejection(of pointer: UnsafeMutableRawPointer) -> OffHeapError {
        let offset = UInt(bitPattern: pointer) &- UInt(bitPattern: base)
        if offset >= byteSpan { return .foreignPointer }
        if UInt(bitPattern: pointer) & alignmentMask != 0 { return .misalignedPointer }
        return .interiorPointer
    }

    /// ``slotIndex(of:)`` for a stride that is not a power of two.
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
        if let states { states[Int(index)].store(1, ordering: .relaxed) }
        return base + Int(index) &* stride
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
        guard let cache = callingThreadCache() else {
            return handOut(try Self.popChain(global, upTo: 1).first)
        }
        var count = cache.count
        if count == 0 {
            cache.bump(3)
            let (first, popped) = try Self.popChain(global, upTo: refillCount)
            cache.bump(4)
            // The chain is ours now: its links are stable. Store it so the first popped slot
            // is handed out first (it sits on top of the magazine).
            let magazine = cache.magazine
            var index = first
            var position = popped - 1
            while position >= 0 {
                magazine[position] = index
                index = global.nextIndex(after: index)
                position -= 1
            }
            count = popped
        } else {
            cache.bump(2)
        }
        let index = cache.magazine[count - 1]
        cache.count = count - 1
        return handOut(index)
    }

    @usableFromInline @inline(never)
    internal func deallocateSlow(_ index: UInt32) {
        guard let cache = callingThreadCache() else {
            Self.pushChain(global, first: index, last: index, count: 1)
            return
        }
        var count = cache.count
        if count >= magazineSize {
            cache.bump(3)
            // Hand back the older half (bottom) in one CAS; keep the recently freed top half.
            let half = magazineSize / 2
            ShardedRuntime.flush(cache, from: 0, count: half, into: global)
            let magazine = cache.magazine
            for position in 0..<(count - half) {
                magazine[position] = magazine[position + half]
            }
            count -= half
            cache.bump(5)
        } else {
            cache.bump(2)
        }
        cache.magazine[count] = index
        cache.count = count + 1
    }

    /// Hands every slot in the calling thread's magazine for this pool back to the shared
    /// list (one CAS). Other threads' magazines are untouched.
    public func flushCallingThreadCache() {
        guard let raw = ThreadLocalSlot.shardedFreeListCaches.value else { return }
        let cache = ShardedThreadRecord(raw).cache(id)
        guard cache.stamp == stamp else { return }
        let count = cache.count
        guard count > 0 else { return }
        ShardedRuntime.flush(cache, from: 0, count: count, into: global)
        cache.count = 0
        cache.bump(5)
    }
}
