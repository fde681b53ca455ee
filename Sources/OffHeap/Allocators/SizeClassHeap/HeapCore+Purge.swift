import Synchronization

// Delayed purge: free units stay committed for a while before they are decommitted.
//
// Why. A program whose live memory swings (a database's page cache, a parser's trees) empties
// and refills pages all the time. Decommitting a page the moment it empties costs an
// `madvise(MADV_DONTNEED)` and then a page fault per 4 KiB when it is refilled: under
// liboffheap-malloc, `sqlite3 :memory:` made 4 023 madvise calls where mimalloc made 75.
// mimalloc waits `purge_delay` before it purges; this is the same idea, per segment. (Its
// 10 ms still cost 862 madvise calls and 13 000 more page faults than mimalloc on that
// workload; 100 ms, the default here, cost none.)
//
// Invariant (all under the heap lock): a free unit is either decommitted or in its segment's
// `dirtyMask`, and `dirtyBytes` is the size of every dirty unit of every linked or cached
// segment. A segment with dirty units beyond the retained allowance (or any dirty unit, once
// cached) has `purgeAt` = the time its first such unit was freed + `purgeDelay`; `nextPurgeAt`
// is never later than the earliest `purgeAt` (it may be earlier: the next pass recomputes it).
// A purge pass, run by page releases, new pages and `releaseExpiredSegments()` once
// `nextPurgeAt` has passed, decommits every dirty unit of an expired cached segment and the
// dirty units of expired linked segments while `dirtyBytes` exceeds the allowance. A
// segment leaving for munmap drops its dirty units from the count without an madvise.
extension HeapCore {
    /// Schedules the segment's dirty units for decommit after the purge delay, unless a purge
    /// is already scheduled (the deadline is not extended: memory is returned within one delay).
    func schedulePurge(_ segment: UnsafeMutableRawPointer, now: UInt64) {
        let header = SegmentLayout.header(segment)
        guard header.pointee.purgeAt == 0 else { return }
        // `max(1, …)`: 0 means "none scheduled", and an injected clock may start at 0.
        let deadline = max(1, now &+ configuration.purgeDelay)
        header.pointee.purgeAt = deadline
        nextPurgeAt = min(nextPurgeAt, deadline)
    }

    /// Decommits what is due at `now` (see the invariant above).
    func purgeExpired(now: UInt64) {
        guard now >= nextPurgeAt else { return }
        var next = UInt64.max
        var cursor = cached.head
        while let segment = cursor {
            let header = SegmentLayout.header(segment)
            cursor = header.pointee.next
            let due = header.pointee.purgeAt
            if due == 0 { continue }
            if due <= now { decommitDirtyUnits(segment) } else { next = min(next, due) }
        }
        cursor = segments.head
        while let segment = cursor {
            let header = SegmentLayout.header(segment)
            cursor = header.pointee.next
            let due = header.pointee.purgeAt
            if due == 0 { continue }
            guard due <= now else {
                next = min(next, due)
                continue
            }
            if dirtyBytes > configuration.retainedEmptyPageBytes {
                decommitDirtyUnits(segment)
            } else {
                header.pointee.purgeAt = 0  // within the allowance again: kept committed
            }
        }
        nextPurgeAt = next
    }

    /// Decommits the segment's free units that are still committed (its `dirtyMask`), one
    /// `madvise` per run of adjacent units, and updates `dirtyBytes` and `committedBytes`.
    func decommitDirtyUnits(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        var dirty = header.pointee.dirtyMask
        while dirty != 0 {
            let first = dirty.trailingZeroBitCount
            let run = (~(dirty &>> UInt64(first))).trailingZeroBitCount
            dirty &= ~((UInt64.max &>> UInt64(64 - run)) &<< UInt64(first))
            let bytes = run * SegmentLayout.unitSize
            try? VirtualMemory.decommit(
                segment + first * SegmentLayout.unitSize, byteCount: bytes, mode: .dontNeed)
            dirtyBytes -= bytes
            committedBytes.wrappingSubtract(bytes, ordering: .relaxed)
        }
        assert(dirtyBytes >= 0, "more dirty bytes decommitted than recorded")
        header.pointee.dirtyMask = 0
        header.pointee.purgeAt = 0
    }

    /// Drops the segment's dirty units from the counts without decommitting them (the
    /// segment is about to be unmapped).
    func forgetDirtyUnits(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        let bytes = header.pointee.dirtyMask.nonzeroBitCount * SegmentLayout.unitSize
        dirtyBytes -= bytes
        assert(dirtyBytes >= 0, "more dirty bytes forgotten than recorded")
        committedBytes.wrappingSubtract(bytes, ordering: .relaxed)
        header.pointee.dirtyMask = 0
        header.pointee.purgeAt = 0
    }
}
