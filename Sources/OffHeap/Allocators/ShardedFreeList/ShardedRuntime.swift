import COffHeapShims
import Synchronization

/// Process-wide state behind every ``ShardedFreeList``: the instance registry, the pool of
/// thread records, and the thread-exit teardown (``ThreadExitRegistry``) that hands an
/// exiting thread's magazines back. All memory comes from `mmap` and lives for the process.
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
    let control: OwnedRegion
    let records: OwnedRegion
    let poolHead: UnsafeMutablePointer<Atomic<UInt64>>
    let highWater: UnsafeMutablePointer<Atomic<UInt64>>

    private init() throws(OffHeapError) {
        let rowBytes = ShardedFreeList.maximumLiveInstances * ShardedRegistry.rowBytes
        // Owned: a later throw unmaps whatever was reserved.
        control = try OwnedRegion(byteCount: rowBytes + 64, committed: true)
        records = try OwnedRegion(
            byteCount: Self.maximumThreadRecords * ShardedThreadRecord.stride, committed: true)
        registry = ShardedRegistry(rows: control.base)
        _ = control.base.bindMemory(to: Atomic<UInt64>.self, capacity: rowBytes / 8 + 8)
        poolHead = (control.base + rowBytes).assumingMemoryBound(to: Atomic<UInt64>.self)
        highWater = poolHead + 1
        poolHead.initialize(to: Atomic(UInt64(Self.nilIndex)))
        highWater.initialize(to: Atomic(UInt64(1)))  // record 0: the sentinel
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
        // Without the exit teardown the record and its magazines would leak: bypass instead.
        let teardown: ThreadExitRegistry.Teardown = { ShardedRuntime.threadExit(recordOffset: $0) }
        guard ThreadExitRegistry.shared.arm(.shardedFreeList, teardown: teardown) else {
            releaseRecord(record)
            return nil
        }
        ThreadLocalSlot.shardedFreeListCaches.value =
            UnsafeMutableRawPointer(bitPattern: record.raw - records.base)
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

    /// The thread-exit teardown (``ThreadExitRegistry``), with the slot's value (the
    /// exiting thread's record offset): runs after the thread's last use of any pool.
    static func threadExit(recordOffset offset: UnsafeMutableRawPointer) {
        guard let runtime = shared else { return }
        let record = ShardedThreadRecord(runtime.records.base + Int(bitPattern: offset))
        ThreadLocalSlot.shardedFreeListCaches.value = nil
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
            let flushes = cache.counter(.flushes) + (count > 0 ? 1 : 0)
            registry.counter(id, .hits).pointee.wrappingAdd(cache.hits, ordering: .relaxed)
            registry.counter(id, .misses).pointee.wrappingAdd(cache.counter(.misses), ordering: .relaxed)
            registry.counter(id, .refills).pointee.wrappingAdd(cache.counter(.refills), ordering: .relaxed)
            registry.counter(id, .flushes).pointee.wrappingAdd(flushes, ordering: .relaxed)
            cache.count = 0
            registry.unpin(id)
        }
        record.activeMask = 0
        runtime.releaseRecord(record)
    }
}
