import COffHeapShims
import Synchronization

@usableFromInline typealias ThreadHeapPointer = UnsafeMutablePointer<ThreadHeap>

/// One thread's share of one ``SizeClassHeap``: per size class, the page it allocates from
/// and the pages it owns. Lives in off-heap chunks owned by the heap; a thread finds it
/// through its ``ThreadRecord`` (the shim's initial-exec TLS slot `.sizeClassHeap`).
///
/// Invariant: only the thread that attached a `ThreadHeap` reads or writes its queues' page
/// links; the counters are `Atomic` only so that `statistics()` may read them from another
/// thread: the owner updates them with a relaxed load and store (plain moves, no RMW). A
/// record is recycled only after its thread abandoned every page (under the heap lock), so
/// no page's `owner` can still name a recycled record.
///
/// `thread` is the attached thread's token (``ThreadRecord/currentToken``, the address of
/// its TLS table), 0 while the record is free. Only the attaching thread writes it: on
/// attach, before any page names the record, and back to 0 when it abandons its pages at
/// exit, before its table is unmapped (so a later thread whose table lands at the same
/// address, and thus has the same token, finds no page naming a record with that token).
/// The free path's owner test is therefore `page.owner != 0 && page.owner.thread == my
/// token`, asked only by a thread whose token is non-zero (a thread without a table takes
/// the slow path, which attaches it): a page names a record carrying my token only if I
/// attached that record and formatted or adopted the page, and every later change of
/// `page.owner` (release, abandon, another thread's format after a release) is ordered
/// after my own writes — no lookup of the heap id. `thread` is read relaxed because the
/// only value that matters (my own token) was written by this thread; `page.owner` is
/// read with acquire so the record it names is initialised before it is read (message
/// passing). Token 0 must never be tested: `thread` is 0 in every free record, and a
/// record goes free while a racing free may still hold its address from `page.owner` (the
/// owner exits between the two loads), so a tableless caller would pass the test and push
/// onto another thread's page-local list (seen by TSan on aarch64).
@usableFromInline
internal struct ThreadHeap: ~Copyable {
    @usableFromInline var heapID: UInt64
    @usableFromInline var nextFree: ThreadHeapPointer?
    /// Token of the attached thread, 0 when free (see above).
    @usableFromInline let thread: Atomic<UInt>
    /// Frees this thread pushed onto other threads' pages.
    @usableFromInline let remoteFrees: Atomic<UInt64>

    @inlinable static var queuesOffset: Int { (MemoryLayout<ThreadHeap>.stride + 63) & ~63 }
    @inlinable static var byteCount: Int {
        (queuesOffset + SizeClassTable.classCount * MemoryLayout<ClassQueue>.stride + 63) & ~63
    }

    @inlinable
    init(heapID: UInt64) {
        self.heapID = heapID
        nextFree = nil
        thread = Atomic(0)
        remoteFrees = Atomic(0)
    }

    @inlinable @inline(__always)
    static func queue(_ heap: ThreadHeapPointer, _ classIndex: Int)
        -> UnsafeMutablePointer<ClassQueue>
    {
        (UnsafeMutableRawPointer(heap) + queuesOffset).assumingMemoryBound(to: ClassQueue.self)
            + classIndex
    }
}

/// A thread's pages of one size class. `current` is the head of `active` (pages that may
/// have free blocks); exhausted pages wait in `full` until a refill finds none elsewhere.
@usableFromInline
internal struct ClassQueue: ~Copyable {
    @usableFromInline var current: PagePointer?
    @usableFromInline var active: PagePointer?
    @usableFromInline var full: PagePointer?
    @usableFromInline let allocations: Atomic<UInt64>
    @usableFromInline let frees: Atomic<UInt64>

    @inlinable
    init() {
        current = nil
        active = nil
        full = nil
        allocations = Atomic(0)
        frees = Atomic(0)
    }
}

extension Atomic where Value == UInt64 {
    /// Single-writer increment: a relaxed load and store, no read-modify-write.
    @inlinable @inline(__always)
    func ownerAdd(_ delta: UInt64) {
        store(load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }
}

/// The per-thread table behind `ThreadLocalSlot.sizeClassHeap`: heap id → `ThreadHeap`,
/// 64 entries, direct-mapped by `id & 63` (ids are never reused, so a stale entry of a
/// destroyed heap never matches; it is evicted when the table fills).
///
/// Choice: a table by heap id rather than one global default heap, so every
/// `SizeClassHeap` instance is a full heap with its own pages and statistics, and a thread
/// reaches its share of any heap with one TLS load, one indexed load and one compare.
///
/// Invariant: `heap` is non-nil exactly when `heapID != 0` (entries start as `(0, nil)`,
/// attach writes `(id, record)`, and the only other writes move whole entries), so a
/// lookup whose id matches may take `heap` without a nil test.
@usableFromInline
internal struct ThreadRecordEntry {
    @usableFromInline var heapID: UInt64
    @usableFromInline var heap: ThreadHeapPointer?
}

/// The calling thread's one-entry cache of the last small segment the ``SegmentRegistry``
/// confirmed for a heap: `segmentBase` was registered to `heapID` (and its header said
/// small) at some moment after the registry's unmap epoch read `epoch`. It lives right
/// after the 64 entries in the thread's table, so only that thread reads or writes it
/// (plain memory). All zero (heap id 0, which no heap has) means empty. See
/// `SizeClassHeap.smallPage` for why a hit is exactly as sound as a fresh registry lookup.
@usableFromInline
internal struct SegmentCacheEntry {
    @usableFromInline var heapID: UInt64
    @usableFromInline var segmentBase: UInt
    @usableFromInline var epoch: UInt

    @inlinable
    init(heapID: UInt64, segmentBase: UInt, epoch: UInt) {
        self.heapID = heapID
        self.segmentBase = segmentBase
        self.epoch = epoch
    }
}

@usableFromInline
internal enum ThreadRecord {
    @inlinable static var entryCount: Int { 64 }
    @inlinable static var slot: ThreadLocalSlot { .sizeClassHeap }
    /// Bytes of a thread's table: the entries, its ``SegmentCacheEntry``, then its free
    /// announcement word (``freeSequence(_:)``).
    @inlinable static var tableByteCount: Int {
        entryCount * MemoryLayout<ThreadRecordEntry>.stride + MemoryLayout<SegmentCacheEntry>.stride
            + MemoryLayout<UInt>.stride
    }

    /// The segment cache inside the table `raw` (the value of ``slot``).
    @inlinable @inline(__always)
    static func segmentCache(_ raw: UnsafeMutableRawPointer)
        -> UnsafeMutablePointer<SegmentCacheEntry>
    {
        (raw + entryCount * MemoryLayout<ThreadRecordEntry>.stride)
            .assumingMemoryBound(to: SegmentCacheEntry.self)
    }

    /// The calling thread's token: the address of its table, 0 before it has one. Unique
    /// among live threads; reused only after the owner of the old table exited.
    @inlinable @inline(__always)
    static var currentToken: UInt { UInt(bitPattern: slot.value) }

    /// The calling thread's `ThreadHeap` for `heapID`, without creating anything.
    @inlinable @inline(__always)
    static func lookup(_ heapID: UInt64) -> ThreadHeapPointer? {
        guard let raw = slot.value else { return nil }
        let entry = raw.assumingMemoryBound(to: ThreadRecordEntry.self)
            + Int(truncatingIfNeeded: heapID & 63)
        return entry.pointee.heapID == heapID ? entry.pointee.heap : nil
    }

    /// Byte offset of heap `heapID`'s home entry in a thread's table.
    @inlinable
    static func entryOffset(_ heapID: UInt64) -> Int {
        Int(truncatingIfNeeded: heapID & 63) &* MemoryLayout<ThreadRecordEntry>.stride
    }

    /// The calling thread's entry at `entryOffset` (a heap's home, ``entryOffset(_:)``), or
    /// `nil` before the thread has a table: ``lookup(_:)`` for the allocate fast path, which
    /// compares the id itself and then takes the record without a nil test (an entry whose
    /// id matches a live heap's, never 0, always names its record).
    @inlinable @inline(__always)
    static func homeEntry(entryOffset: Int) -> UnsafeMutablePointer<ThreadRecordEntry>? {
        guard let raw = slot.value else { return nil }
        return (raw + entryOffset).assumingMemoryBound(to: ThreadRecordEntry.self)
    }

    /// The calling thread's table, created (and hooked to thread exit) on first use.
    static func current() throws(OffHeapError) -> UnsafeMutablePointer<ThreadRecordEntry> {
        if let raw = slot.value { return raw.assumingMemoryBound(to: ThreadRecordEntry.self) }
        let hook = ThreadExitHook.shared
        guard hook.valid else { throw .threadStartFailed(errno: hook.error) }
        let region = try VirtualMemory.reserve(byteCount: tableByteCount, committed: true)
        let entries = region.base.bindMemory(to: ThreadRecordEntry.self, capacity: entryCount)
        entries.initialize(repeating: ThreadRecordEntry(heapID: 0, heap: nil), count: entryCount)
        (region.base + entryCount * MemoryLayout<ThreadRecordEntry>.stride)
            .bindMemory(to: SegmentCacheEntry.self, capacity: 1)
            .initialize(to: SegmentCacheEntry(heapID: 0, segmentBase: 0, epoch: 0))
        (region.base + entryCount * MemoryLayout<ThreadRecordEntry>.stride
            + MemoryLayout<SegmentCacheEntry>.stride)
            .bindMemory(to: Atomic<UInt>.self, capacity: 1).initialize(to: Atomic(0))
        ThreadTables.shared.insert(region.base)
        slot.value = region.base
        _ = offheap_tls_key_set(hook.key, region.base)
        return entries
    }
}

/// The pthread key whose destructor abandons an exiting thread's pages.
internal final class ThreadExitHook: @unchecked Sendable {
    // @unchecked Sendable: immutable after init.
    static let shared = ThreadExitHook()
    let key: UInt32
    let valid: Bool
    let error: Int32

    private init() {
        var key: UInt32 = 0
        let rc = offheap_tls_key_create(&key) { raw in ThreadExitHook.threadExited(raw) }
        self.key = key
        valid = rc == 0
        error = rc
    }

    /// Runs on the exiting thread: every heap it used adopts nothing, it abandons its pages.
    static func threadExited(_ raw: UnsafeMutableRawPointer) {
        let entries = raw.assumingMemoryBound(to: ThreadRecordEntry.self)
        for index in 0..<ThreadRecord.entryCount {
            let entry = entries[index]
            guard entry.heapID != 0, let heap = entry.heap else { continue }
            HeapDirectory.shared.detach(heapID: entry.heapID, threadHeap: heap)
        }
        if ThreadRecord.slot.value == raw { ThreadRecord.slot.value = nil }
        ThreadTables.shared.remove(raw)
        _ = offheap_munmap(
            raw, VirtualMemory.roundUp(ThreadRecord.tableByteCount, to: VirtualMemory.pageSize))
    }
}

/// Live heaps by id, so a thread-exit hook reaches only heaps that still exist.
///
/// Invariant: an entry holds a +1 reference on its core; `detach` runs the abandonment
/// while holding the directory lock, and `remove` takes the same lock, so a heap is never
/// torn down while an exiting thread is handing its pages back.
internal final class HeapDirectory: @unchecked Sendable {
    // @unchecked Sendable: `entries` is only touched under `lock`.
    static let shared = HeapDirectory()
    private let lock = SpinLock()
    private var entries: [(id: UInt64, core: Unmanaged<HeapCore>)] = []
    private let nextID = Atomic<UInt64>(1)

    func makeID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func insert(_ core: HeapCore) {
        lock.lock()
        entries.append((core.id, Unmanaged.passRetained(core)))
        lock.unlock()
    }

    func remove(heapID: UInt64) {
        lock.lock()
        var removed: Unmanaged<HeapCore>?
        if let index = entries.firstIndex(where: { $0.id == heapID }) {
            removed = entries[index].core
            entries.remove(at: index)
        }
        lock.unlock()
        removed?.release()
    }

    func isLive(heapID: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return entries.contains { $0.id == heapID }
    }

    func detach(heapID: UInt64, threadHeap: ThreadHeapPointer) {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries.first(where: { $0.id == heapID }) else { return }
        entry.core.takeUnretainedValue().abandon(threadHeap)
    }
}
