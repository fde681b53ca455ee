import Synchronization

// Free announcements: an unmap waits for every free that may have read the registry before
// the segment was unpublished.
//
// Why. A free checks the registry (or its thread's segment cache, validated by the unmap
// epoch) and THEN reads the segment's header and page descriptors. A segment unpublished
// and unmapped between the two (trim() or cache eviction of an empty segment, or the first
// of two racing frees of a huge block) would make the second read fault. The check and the
// read are made one consistent step by holding the munmap until no free can be between them.
//
// Invariant: every thread that frees (or asks `usableSize`) has a table (created on its first
// such call) holding an announcement word `seq`: odd while the thread is inside a free, even
// outside. A free stores `seq + 1` (odd) with a sequentially consistent store BEFORE it loads
// the unmap epoch or the registry, and stores `seq + 2` (release) after its last access to
// segment memory. `unmapSegment` clears the registry entry and bumps the unmap epoch (a
// sequentially consistent RMW, `SegmentRegistry.unpublish`), issues a sequentially consistent
// fence, and then, for every registered table but its own, waits while `seq` still holds the
// odd value it read; only then does it munmap.
//
// Orderings (store-buffering / Dekker): free = [store seq odd (SC); load epoch/registry];
// unmap = [epoch RMW (SC); fence (SC); load seq]. Where the kernel offers it (nearly always:
// Linux 4.14+), the pair is made asymmetric (AsymmetricFence.swift): the free stores `seq`
// odd with a relaxed store and a compiler barrier, and the unmap's fence is a membarrier that
// puts a full barrier on every running thread, which is what the free's SC store provided. In the single total order either the
// unmapper's seq load comes after the free's odd store (it reads odd, or a later value:
// then it waits for the release store of the even value, which orders every read the free
// made of the segment before the munmap), or the free's epoch/registry load comes after the
// unmapper's RMW and sees the cleared entry / new epoch: `.foreignPointer`, the segment is
// never touched. A thread that unmaps from inside its own free (a huge free, a page release
// that evicts a cached segment) first ends its own announcement: it makes no further access
// to the segment it unmaps, and two freeing threads that unmap at once cannot wait for each
// other.
//
// Cost: two plain stores per free (one with a full barrier, x86-64 `xchg`, when membarrier is
// unavailable), on a line of the calling thread's own table: no shared cache line, no
// contention. Unmaps (rare: trim, cache eviction, huge frees that the cache does not keep)
// pay a membarrier (an IPI to each CPU running one of our threads) and scan the live tables.
extension ThreadRecord {
    /// The announcement word inside the table `raw` (after the segment cache).
    @inlinable @inline(__always)
    static func freeSequence(_ raw: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt>> {
        (raw + entryCount * MemoryLayout<ThreadRecordEntry>.stride
            + MemoryLayout<SegmentCacheEntry>.stride)
            .assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// Announces a free on the table `raw`; `false` when the thread was already inside one
    /// (nested: the outer call ends it). `light`: the unmap side uses membarrier
    /// (``AsymmetricFence/isAvailable``, copied into the heap when it was created).
    @inlinable @inline(__always)
    static func announceFree(_ raw: UnsafeMutableRawPointer, light: Bool) -> Bool {
        let word = freeSequence(raw)
        let current = word.pointee.load(ordering: .relaxed)
        guard current & 1 == 0 else { return false }
        if light {
            word.pointee.store(current &+ 1, ordering: .relaxed)
            AsymmetricFence.light()
        } else {
            word.pointee.store(current &+ 1, ordering: .sequentiallyConsistent)
        }
        return true
    }

    /// Ends the calling thread's announcement on the table `raw`, if one is open.
    @inlinable @inline(__always)
    static func endFree(_ raw: UnsafeMutableRawPointer) {
        let word = freeSequence(raw)
        let current = word.pointee.load(ordering: .relaxed)
        if current & 1 != 0 { word.pointee.store(current &+ 1, ordering: .releasing) }
    }
}

/// One open free announcement, as a value a free's fast path hands to the slow path that
/// finishes the free (``SizeClassHeap/FreeRoute``): the slow path ends it once its last
/// access to segment memory is done.
@frozen @usableFromInline
internal struct FreeAnnouncement {
    /// The calling thread's table.
    @usableFromInline let table: UnsafeMutableRawPointer
    /// `false` when the thread was already inside a free (the outer free ends it).
    @usableFromInline let opened: Bool

    /// Announces a free on `table` (``ThreadRecord/announceFree(_:light:)``).
    @inlinable @inline(__always)
    init(table: UnsafeMutableRawPointer, light: Bool) {
        self.table = table
        opened = ThreadRecord.announceFree(table, light: light)
    }

    /// Ends the announcement if this value opened it.
    @inlinable @inline(__always)
    func end() {
        if opened { ThreadRecord.endFree(table) }
    }
}
