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
    /// Remote batches holding blocks (RemoteBatch.swift): a flush with none has nothing to scan.
    @usableFromInline var pendingBatches: Int

    @inlinable static var queuesOffset: Int { (MemoryLayout<ThreadHeap>.stride + 63) & ~63 }
    /// The record, its class queues, then its remote batches (RemoteBatch.swift).
    @inlinable static var byteCount: Int {
        (batchesOffset + RemoteBatch.slotCount * MemoryLayout<RemoteBatch>.stride + 63) & ~63
    }

    @inlinable
    init(heapID: UInt64) {
        self.heapID = heapID
        nextFree = nil
        thread = Atomic(0)
        remoteFrees = Atomic(0)
        pendingBatches = 0
    }

    @inlinable @inline(__always)
    static func queue(_ heap: ThreadHeapPointer, _ classIndex: Int)
        -> UnsafeMutablePointer<ClassQueue>
    {
        (UnsafeMutableRawPointer(heap) + queuesOffset).assumingMemoryBound(to: ClassQueue.self)
            + classIndex
    }
}
