import Synchronization

/// Remote frees a thread has made and not yet pushed: blocks of one page, chained through
/// their first words, that go onto the page's `threadFree` stack with one release CAS for the
/// whole chain. One batch per size class: consecutive remote frees of a class mostly come
/// from one page (the page its owner was allocating from). One CAS per remote free kept a producer/consumer workload on the contended
/// line of the page it drained; snmalloc and jemalloc batch their remote frees too.
///
/// Invariant: only the thread that attached a ``ThreadHeap`` touches its batches (they live
/// in the record, after the class queues) and its `pendingBatches`, the number of batches
/// holding blocks. A batched block is still counted in its page's
/// `used`, so the page is not released, nor its segment unmapped, while the block waits: a
/// flush writes to mapped memory of a page whose descriptor is stable, and needs no free
/// announcement. The CAS publishes the chain's links (release; the collector's exchange is
/// acquire), exactly as a single push does.
///
/// A thread's batches are flushed when one is full (``capacity`` blocks or ``byteLimit``
/// bytes, whichever is fewer: blocks of 8 KiB and more are not batched), when a free of
/// another page of the class comes, when the thread refills a page (its allocation slow
/// path), trims, or exits (before its pages are abandoned and its record recycled). Between
/// those, a thread that freed remotely and then stopped allocating holds at most
/// ``byteLimit`` (or one block) per size class of other threads' memory.
@usableFromInline
internal struct RemoteBatch {
    @usableFromInline var page: PagePointer?
    /// Last block freed (the chain's head) and first (its tail, whose link the flush sets).
    @usableFromInline var head: UnsafeMutableRawPointer?
    @usableFromInline var tail: UnsafeMutableRawPointer?
    @usableFromInline var count: Int32
    /// Blocks at which this batch is pushed (``capacity``, fewer for large blocks).
    @usableFromInline var limit: Int32

    @usableFromInline static var slotCount: Int { SizeClassTable.classCount }
    @usableFromInline static var capacity: Int { 32 }
    @usableFromInline static var byteLimit: Int { 8 << 10 }

    /// The slot for `page`: its size class (constant while any of its blocks is live).
    @inlinable @inline(__always)
    static func slot(of page: PagePointer) -> Int { Int(page.pointee.classIndex) }

    /// The flush threshold for blocks of `blockSize` bytes.
    @inlinable @inline(__always)
    static func limit(blockSize: Int32) -> Int32 {
        Int32(min(capacity, max(1, byteLimit / max(1, Int(blockSize)))))
    }
}

extension ThreadHeap {
    @inlinable static var batchesOffset: Int {
        (queuesOffset + SizeClassTable.classCount * MemoryLayout<ClassQueue>.stride + 63) & ~63
    }

    /// Slot `index` of the record's remote batches (zero-filled memory is an empty batch).
    @inlinable @inline(__always)
    static func batch(_ heap: ThreadHeapPointer, _ index: Int) -> UnsafeMutablePointer<RemoteBatch> {
        (UnsafeMutableRawPointer(heap) + batchesOffset).assumingMemoryBound(to: RemoteBatch.self)
            + index
    }

    /// Adds `block` (already freed: checked-mode bits and instrumentation done) to the
    /// calling thread's batch for its page, flushing what the slot held for another page.
    @usableFromInline
    static func batchRemoteFree(
        _ heap: ThreadHeapPointer, _ page: PagePointer, _ block: UnsafeMutableRawPointer
    ) {
        let slot = batch(heap, RemoteBatch.slot(of: page))
        if slot.pointee.page != page {
            if slot.pointee.page != nil { flush(heap, slot) }
            heap.pointee.pendingBatches += 1
            slot.pointee = RemoteBatch(
                page: page, head: block, tail: block, count: 1,
                limit: RemoteBatch.limit(blockSize: page.pointee.blockSize))
        } else {
            Instrumentation.withLinkWord(block) {
                block.storeBytes(of: slot.pointee.head, as: UnsafeMutableRawPointer?.self)
            }
            slot.pointee.head = block
            slot.pointee.count += 1
        }
        if slot.pointee.count >= slot.pointee.limit { flush(heap, slot) }
    }

    /// Pushes every waiting batch of the calling thread's record `heap`.
    @usableFromInline
    static func flushRemoteBatches(_ heap: ThreadHeapPointer) {
        var index = 0
        while heap.pointee.pendingBatches > 0 && index < RemoteBatch.slotCount {
            let slot = batch(heap, index)
            if slot.pointee.page != nil { flush(heap, slot) }
            index += 1
        }
        assert(heap.pointee.pendingBatches == 0, "a pending batch no slot holds")
    }

    /// Pushes one batch's chain onto its page's remote-free stack and empties it.
    @usableFromInline
    static func flush(_ heap: ThreadHeapPointer, _ slot: UnsafeMutablePointer<RemoteBatch>) {
        guard let page = slot.pointee.page, let head = slot.pointee.head,
            let tail = slot.pointee.tail
        else { return }
        RemoteBatch.push(head: head, tail: tail, onto: page)
        slot.pointee = RemoteBatch(page: nil, head: nil, tail: nil, count: 0, limit: 0)
        heap.pointee.pendingBatches -= 1
    }
}

extension RemoteBatch {
    /// Pushes the chain `head` … `tail` (linked through the blocks' first words; `tail`'s
    /// link is set here) onto the page's remote-free stack with one release CAS.
    @usableFromInline
    static func push(
        head: UnsafeMutableRawPointer, tail: UnsafeMutableRawPointer, onto page: PagePointer
    ) {
        var top = SegmentLayout.threadFree(page).pointee.load(ordering: .relaxed)
        while true {
            Instrumentation.withLinkWord(tail) { tail.storeBytes(of: top, as: UInt.self) }
            let (exchanged, original) = SegmentLayout.threadFree(page).pointee.compareExchange(
                expected: top, desired: UInt(bitPattern: head),
                successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { return }
            top = original
        }
    }
}
