import COffHeapShims
import Synchronization

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
        let exits = ThreadExitRegistry.shared
        guard exits.error == 0 else { throw .threadStartFailed(errno: exits.error) }
        let region = try VirtualMemory.reserve(byteCount: tableByteCount, committed: true)
        let entries = region.base.bindMemory(to: ThreadRecordEntry.self, capacity: entryCount)
        entries.initialize(repeating: ThreadRecordEntry(heapID: 0, heap: nil), count: entryCount)
        (region.base + entryCount * MemoryLayout<ThreadRecordEntry>.stride)
            .bindMemory(to: SegmentCacheEntry.self, capacity: 1)
            .initialize(to: SegmentCacheEntry(heapID: 0, segmentBase: 0, epoch: 0))
        (region.base + entryCount * MemoryLayout<ThreadRecordEntry>.stride
            + MemoryLayout<SegmentCacheEntry>.stride)
            .bindMemory(to: Atomic<UInt>.self, capacity: 1).initialize(to: Atomic(0))
        guard exits.arm(.sizeClassHeap, teardown: { raw in ThreadRecord.threadExited(raw) }) else {
            try? VirtualMemory.release(region)
            throw .threadStartFailed(errno: exits.error)
        }
        ThreadTables.shared.insert(region.base)
        slot.value = region.base
        return entries
    }

    /// The thread-exit teardown (``ThreadExitRegistry``), with the exiting thread's table:
    /// every heap it used adopts nothing, it abandons its pages.
    static func threadExited(_ raw: UnsafeMutableRawPointer) {
        let entries = raw.assumingMemoryBound(to: ThreadRecordEntry.self)
        for index in 0..<entryCount {
            let entry = entries[index]
            guard entry.heapID != 0, let heap = entry.heap else { continue }
            HeapDirectory.shared.detach(heapID: entry.heapID, threadHeap: heap)
        }
        if slot.value == raw { slot.value = nil }
        ThreadTables.shared.remove(raw)
        _ = offheap_munmap(raw, VirtualMemory.roundUp(tableByteCount, to: VirtualMemory.pageSize))
    }
}
