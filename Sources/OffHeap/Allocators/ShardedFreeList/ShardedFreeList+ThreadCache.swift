import COffHeapShims
import Synchronization

/// One thread's cache for one pool: a magazine of free slot indices plus counters, living in
/// the thread's off-heap ``ShardedThreadRecord``.
///
/// Invariant: only the owning thread writes any field, and only the owning thread reads the
/// magazine array, so the hot path uses plain loads and stores (the header words are
/// `Atomic` accessed with relaxed loads and stores, which compile to plain `mov`s, only so
/// that ``ShardedFreeList/stats`` may read them from other threads without a data race).
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

    @usableFromInline internal let raw: UnsafeMutableRawPointer

    @inlinable @inline(__always)
    internal init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    @inlinable @inline(__always)
    internal func word(_ field: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (raw + field * 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inlinable @inline(__always)
    internal var stamp: UInt64 {
        get { word(0).pointee.load(ordering: .relaxed) }
        nonmutating set { word(0).pointee.store(newValue, ordering: .relaxed) }
    }

    /// `hits << 8 | count` (see the type's comment).
    @inlinable @inline(__always)
    internal var tally: UInt64 {
        get { word(1).pointee.load(ordering: .relaxed) }
        nonmutating set { word(1).pointee.store(newValue, ordering: .relaxed) }
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
    internal var hits: UInt64 { counter(2) &+ (tally &>> 8) }

    /// Moves the hits field of `tally` (plus `extra`) into `foldedHits` and sets the count to
    /// `count`: the slow paths' single update of both.
    @inlinable @inline(__always)
    internal func fold(extraHits extra: UInt64, count: Int) {
        let hits = counter(2) &+ (tally &>> 8) &+ extra
        word(2).pointee.store(hits, ordering: .relaxed)
        tally = UInt64(truncatingIfNeeded: count)
    }

    /// Adds one to counter `field` (3 misses, 4 refills, 5 flushes): a relaxed load and a
    /// relaxed store by the owner, never a read-modify-write.
    @inlinable @inline(__always)
    internal func bump(_ field: Int) {
        let counter = word(field)
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    @inlinable @inline(__always)
    internal func counter(_ field: Int) -> UInt64 { word(field).pointee.load(ordering: .relaxed) }

    @inlinable @inline(__always)
    internal var magazine: UnsafeMutablePointer<UInt32> {
        (raw + Self.headerBytes).assumingMemoryBound(to: UInt32.self)
    }

    /// Makes this cache empty and owned by the pool with generation `stamp`.
    @usableFromInline
    internal func reset(stamp: UInt64) {
        for field in 1...5 { word(field).pointee.store(0, ordering: .relaxed) }
        word(0).pointee.store(stamp, ordering: .releasing)
    }
}

/// A thread's table of caches, one column per pool id, in off-heap memory from
/// ``ShardedRuntime``'s record reservation. The calling thread reaches it through the
/// initial-exec TLS slot ``ThreadLocalSlot/shardedFreeListCaches``, which holds the
/// record's byte offset from the reservation's base (see ``ShardedRuntime``).
///
/// Invariant: a record belongs to at most one live thread (it is taken from the runtime's
/// free stack by ``ShardedRuntime/acquireRecord()`` and pushed back by the thread-exit hook
/// after every cache in it was flushed and unstamped). Header: `poolLink 0` (free-stack link,
/// `Atomic`), `activeMask 8` (ids this thread stamped; owner only), `index 16`.
@frozen @usableFromInline
internal struct ShardedThreadRecord {
    @usableFromInline internal static let headerBytes = 64
    @usableFromInline internal static let stride = VirtualMemory.roundUp(
        headerBytes + ShardedFreeList.maximumLiveInstances * ShardedThreadCache.stride,
        to: VirtualMemory.pageSize)

    @usableFromInline internal let raw: UnsafeMutableRawPointer

    @inlinable @inline(__always)
    internal init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    @inlinable @inline(__always)
    internal func cache(_ id: Int) -> ShardedThreadCache {
        ShardedThreadCache(raw + Self.headerBytes + id &* ShardedThreadCache.stride)
    }

    internal var poolLink: UnsafeMutablePointer<Atomic<UInt64>> {
        raw.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    internal var activeMask: UInt64 {
        get { raw.load(fromByteOffset: 8, as: UInt64.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 8, as: UInt64.self) }
    }

    internal var index: UInt32 {
        get { raw.load(fromByteOffset: 16, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 16, as: UInt32.self) }
    }
}

/// Process-wide state behind every ``ShardedFreeList``: the instance registry, the pool of
/// thread records and the pthread key whose destructor hands an exiting thread's magazines
/// back. All memory comes from `mmap` and lives for the process.
///
/// Invariant of the record pool: `poolHead = index | tag << 32` of the top free record
/// (`nilIndex`: none); every successful CAS adds one to the tag (no ABA); a record's
/// `poolLink` is written before the releasing CAS that pushes it. Records never handed out
/// lie at or above `highWater`, which only grows (a fetch-add, cold path).
///
/// Record 0 is the *sentinel*: never handed out (`highWater` starts at 1) and never written,
/// so every column's stamp stays 0, which no pool's generation equals. The TLS slot holds
/// the calling thread's record as a byte offset from `records.base`; a thread without a
/// record reads 0 (the slot's initial nil), i.e. the sentinel, whose columns always miss.
/// So the hot path computes its column as `pool.cacheBase + offset` with no nil test, and
/// only the slow path distinguishes "no record" (``callingThreadRecordIfAny``).
@usableFromInline
internal final class ShardedRuntime: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; shared state is `Atomic` off-heap memory.

    internal static let maximumThreadRecords = 2048
    static let nilIndex: UInt32 = .max

    /// `nil` only when the process could not map the runtime's memory.
    @usableFromInline
    internal static let shared: ShardedRuntime? = try? ShardedRuntime()

    internal let registry: ShardedRegistry
    let control: VirtualRegion
    let records: VirtualRegion
    let poolHead: UnsafeMutablePointer<Atomic<UInt64>>
    let highWater: UnsafeMutablePointer<Atomic<UInt64>>
    let key: UInt32

    private init() throws(OffHeapError) {
        let rowBytes = ShardedFreeList.maximumLiveInstances * ShardedRegistry.rowBytes
        control = try VirtualMemory.reserve(byteCount: rowBytes + 64, committed: true)
        do {
            records = try VirtualMemory.reserve(
                byteCount: Self.maximumThreadRecords * ShardedThreadRecord.stride,
                committed: true)
        } catch {
            try? VirtualMemory.release(control)
            throw error
        }
        registry = ShardedRegistry(rows: control.base)
        _ = control.base.bindMemory(to: Atomic<UInt64>.self, capacity: rowBytes / 8 + 8)
        poolHead = (control.base + rowBytes).assumingMemoryBound(to: Atomic<UInt64>.self)
        highWater = poolHead + 1
        poolHead.initialize(to: Atomic(UInt64(Self.nilIndex)))
        highWater.initialize(to: Atomic(UInt64(1)))  // record 0: the sentinel
        var key: UInt32 = 0
        let rc = offheap_tls_key_create(&key) { raw in
            ShardedRuntime.threadExit(record: ShardedThreadRecord(raw))
        }
        if rc != 0 {
            try? VirtualMemory.release(records)
            try? VirtualMemory.release(control)
            throw .threadStartFailed(errno: rc)
        }
        self.key = key
    }

    /// The calling thread's record offset from `records.base` (0: none, the sentinel).
    @inlinable @inline(__always)
    internal static var callingThreadRecordOffset: Int {
        Int(bitPattern: ThreadLocalSlot.shardedFreeListCaches.value)
    }

    /// The calling thread's record, if it has one.
    internal var callingThreadRecordIfAny: ShardedThreadRecord? {
        let offset = Self.callingThreadRecordOffset
        return offset == 0 ? nil : ShardedThreadRecord(records.base + offset)
    }

    /// The calling thread's record, creating and registering it on first use; `nil` when all
    /// ``maximumThreadRecords`` are held by live threads (callers then bypass the cache).
    @usableFromInline
    internal func callingThreadRecord() -> ShardedThreadRecord? {
        if let record = callingThreadRecordIfAny { return record }
        guard let record = acquireRecord() else { return nil }
        ThreadLocalSlot.shardedFreeListCaches.value =
            UnsafeMutableRawPointer(bitPattern: record.raw - records.base)
        _ = offheap_tls_key_set(key, record.raw)
        return record
    }

    func record(at index: UInt32) -> ShardedThreadRecord {
        ShardedThreadRecord(records.base + Int(index) * ShardedThreadRecord.stride)
    }

    /// Number of records ever handed out (stats readers scan these). Clamped: a failed
    /// fetch-add in ``acquireRecord()`` overshoots `highWater` until it undoes itself.
    var recordCount: Int {
        min(Int(highWater.pointee.load(ordering: .acquiring)), Self.maximumThreadRecords)
    }

    func acquireRecord() -> ShardedThreadRecord? {
        var current = poolHead.pointee.load(ordering: .acquiring)
        while true {
            let top = UInt32(truncatingIfNeeded: current)
            if top == Self.nilIndex { break }
            let below = record(at: top).poolLink.pointee.load(ordering: .relaxed)
            let desired = ((current >> 32) &+ 1) << 32 | (below & 0xFFFF_FFFF)
            let (exchanged, original) = poolHead.pointee.compareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing,
                failureOrdering: .acquiring)
            if exchanged { return record(at: top) }
            current = original
        }
        // No recycled record: take a fresh one (zero-filled memory: no stamps, empty mask).
        let index = highWater.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
        guard index < UInt64(Self.maximumThreadRecords) else {
            highWater.pointee.wrappingSubtract(1, ordering: .relaxed)
            return nil
        }
        let fresh = record(at: UInt32(index))
        fresh.index = UInt32(index)
        return fresh
    }

    func releaseRecord(_ record: ShardedThreadRecord) {
        var current = poolHead.pointee.load(ordering: .relaxed)
        while true {
            record.poolLink.pointee.store(current & 0xFFFF_FFFF, ordering: .relaxed)
            let desired = ((current >> 32) &+ 1) << 32 | UInt64(record.index)
            let (exchanged, original) = poolHead.pointee.compareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing,
                failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Pushes `count` indices starting at `start` of `cache`'s magazine onto `list` with one
    /// successful CAS.
    @usableFromInline
    internal static func flush(
        _ cache: ShardedThreadCache, from start: Int, count: Int,
        into list: ShardedFreeList.GlobalList
    ) {
        guard count > 0 else { return }
        let magazine = cache.magazine
        for offset in start..<(start + count - 1) {
            list.setNextIndex(of: magazine[offset], to: magazine[offset + 1])
        }
        ShardedFreeList.pushChain(
            list, first: magazine[start], last: magazine[start + count - 1], count: count)
    }

    /// The pthread key destructor: runs on the exiting thread, after its last use of any pool.
    static func threadExit(record: ShardedThreadRecord) {
        guard let runtime = shared else { return }
        if runtime.callingThreadRecordIfAny?.raw == record.raw {
            ThreadLocalSlot.shardedFreeListCaches.value = nil
        }
        var mask = record.activeMask
        while mask != 0 {
            let id = mask.trailingZeroBitCount
            mask &= mask - 1
            let cache = record.cache(id)
            let stamp = cache.stamp
            let count = cache.count
            cache.stamp = 0
            guard stamp != 0,
                let list = runtime.registry.pin(id, generation: UInt32(truncatingIfNeeded: stamp))
            else { continue }
            // Pinned: the pool cannot finish its deinit, so its list is alive.
            list._withUnsafeGuaranteedRef { list in
                flush(cache, from: 0, count: count, into: list)
            }
            let registry = runtime.registry
            let flushes = cache.counter(5) + (count > 0 ? 1 : 0)
            registry.counter(id, .hits).pointee.wrappingAdd(cache.hits, ordering: .relaxed)
            registry.counter(id, .misses).pointee.wrappingAdd(cache.counter(3), ordering: .relaxed)
            registry.counter(id, .refills).pointee.wrappingAdd(cache.counter(4), ordering: .relaxed)
            registry.counter(id, .flushes).pointee.wrappingAdd(flushes, ordering: .relaxed)
            cache.count = 0
            registry.unpin(id)
        }
        record.activeMask = 0
        runtime.releaseRecord(record)
    }
}
