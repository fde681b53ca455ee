import Synchronization

/// The shared state of one ``SizeClassHeap``: its segments, abandoned pages, segment and
/// huge-block caches, thread-heap records and counters. Only slow paths come here.
///
/// Invariant: every `var` below is guarded by `lock` (a spinlock held for short sections,
/// never across a call that takes the directory lock). Pages move between a thread's queues
/// and `abandoned` only under `lock`. Counters are atomics so `statistics()` reads them
/// without the lock.
@usableFromInline
internal final class HeapCore: @unchecked Sendable {
    // @unchecked Sendable: mutable state is guarded by `lock` or atomic (see above).
    @usableFromInline let id: UInt64
    @usableFromInline let checked: Bool
    let configuration: SizeClassHeap.Configuration
    let lock = SpinLock()

    /// Small segments with at least one page in use (header links). Partitioned: every
    /// segment with a free unit comes before every full one (`freeMask == 0`), so
    /// `findUnits` stops at the first full segment instead of walking them all. Kept by
    /// `link` (a fresh segment goes first), `claim` (a segment it fills goes last) and
    /// `releasePage` (a full segment that gets a unit back goes first).
    var segments = SegmentList()
    /// Empty segments, most recently cached first.
    var cached = SegmentList()
    var cachedCount = 0
    /// Abandoned pages per class (page links).
    var abandoned: [PagePointer?]
    var abandonedCount = 0
    /// Frees counted by whoever collected an abandoned page without adopting it.
    var unownedFrees: [UInt64]
    /// Bytes of free units still committed (linked and cached segments).
    var dirtyBytes = 0
    /// No segment's `purgeAt` is earlier than this (`.max`: none scheduled).
    var nextPurgeAt = UInt64.max
    /// Freed huge segments kept mapped for reuse.
    var hugeCache: [UnsafeMutableRawPointer] = []
    /// Segment bases of allocated huge blocks (so `shutdown` unmaps them).
    var liveHuge: Set<UInt> = []
    var recordChunks: [VirtualRegion] = []
    var records: [ThreadHeapPointer] = []
    var freeRecords: ThreadHeapPointer?

    let committedBytes = Atomic<Int>(0)
    let mappedSegments = Atomic<Int>(0)
    let hugeLiveBytes = Atomic<Int>(0)
    let hugeLiveCount = Atomic<Int>(0)
    let hugeCachedBytes = Atomic<Int>(0)
    @usableFromInline let unattachedRemoteFrees = Atomic<UInt64>(0)
    let cachedSegmentsCount = Atomic<Int>(0)

    init(id: UInt64, configuration: SizeClassHeap.Configuration) {
        // `SegmentLayout.pageStart` relies on one descriptor per cache line.
        precondition(MemoryLayout<PageMeta>.stride == 64)
        self.id = id
        self.checked = configuration.checking == .checked
        self.configuration = configuration
        abandoned = Array(repeating: nil, count: SizeClassTable.classCount)
        unownedFrees = Array(repeating: 0, count: SizeClassTable.classCount)
        Instrumentation.createPool(instrumentationPool)
    }

    /// This heap's identity for the checkers (``Instrumentation``): its core's address.
    @inlinable
    var instrumentationPool: UnsafeRawPointer {
        UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
    }

    // MARK: - Thread attach

    /// The calling thread's `ThreadHeap`, created on first use, and always left in its home
    /// slot (`id & 63`) of the thread's table so the next fast-path lookup hits.
    @usableFromInline
    func attachThread() throws(OffHeapError) -> ThreadHeapPointer {
        if let heap = ThreadRecord.lookup(id) { return heap }
        let entries = try ThreadRecord.current()
        let home = entries + Int(truncatingIfNeeded: id & 63)
        // Attached before but displaced from home: swap it back.
        for index in 0..<ThreadRecord.entryCount where entries[index].heapID == id {
            let entry = entries[index]
            entries[index] = home.pointee
            home.pointee = entry
            return entry.heap!
        }
        if home.pointee.heapID != 0, HeapDirectory.shared.isLive(heapID: home.pointee.heapID) {
            // A live heap sits at home: move it to a free slot (or one of a destroyed heap).
            var spare: UnsafeMutablePointer<ThreadRecordEntry>?
            for index in 0..<ThreadRecord.entryCount where entries[index].heapID == 0 {
                spare = entries + index
                break
            }
            if spare == nil {
                for index in 0..<ThreadRecord.entryCount
                where !HeapDirectory.shared.isLive(heapID: entries[index].heapID) {
                    spare = entries + index
                    break
                }
            }
            guard let spare else { throw .tooManyHeapsOnThread(limit: ThreadRecord.entryCount) }
            spare.pointee = home.pointee
        }
        // Home is now free, or held by a destroyed heap whose record died with it.
        let heap = try makeRecord()
        heap.pointee.thread.store(UInt(bitPattern: entries), ordering: .relaxed)
        home.pointee = ThreadRecordEntry(heapID: id, heap: heap)
        return heap
    }

    private func makeRecord() throws(OffHeapError) -> ThreadHeapPointer {
        lock.lock()
        if let record = freeRecords {
            freeRecords = record.pointee.nextFree
            record.pointee.nextFree = nil
            lock.unlock()
            return record
        }
        lock.unlock()
        let chunkBytes = 64 << 10
        let perChunk = chunkBytes / ThreadHeap.byteCount
        let region = try VirtualMemory.reserve(byteCount: chunkBytes, committed: true)
        var made: [ThreadHeapPointer] = []
        for index in 0..<perChunk {
            let raw = region.base + index * ThreadHeap.byteCount
            let heap = raw.bindMemory(to: ThreadHeap.self, capacity: 1)
            heap.initialize(to: ThreadHeap(heapID: id))
            let queues = (raw + ThreadHeap.queuesOffset).bindMemory(
                to: ClassQueue.self, capacity: SizeClassTable.classCount)
            for cls in 0..<SizeClassTable.classCount { (queues + cls).initialize(to: ClassQueue()) }
            made.append(heap)
        }
        lock.lock()
        recordChunks.append(region)
        records.append(contentsOf: made)
        for heap in made.dropFirst() {
            heap.pointee.nextFree = freeRecords
            freeRecords = heap
        }
        lock.unlock()
        return made[0]
    }

    // MARK: - Page lists (owner only)

    @inline(__always)
    static func push(_ page: PagePointer, _ head: inout PagePointer?, state: UInt8) {
        page.pointee.prev = nil
        page.pointee.next = head
        head?.pointee.prev = page
        head = page
        page.pointee.listState = state
    }

    @inline(__always)
    static func unlink(_ page: PagePointer, _ head: inout PagePointer?) {
        if let prev = page.pointee.prev { prev.pointee.next = page.pointee.next } else {
            head = page.pointee.next
        }
        page.pointee.next?.pointee.prev = page.pointee.prev
        page.pointee.next = nil
        page.pointee.prev = nil
        page.pointee.listState = PageMeta.inNoList
    }

    /// Inserts `page` into the list at `head` right behind the head (or as the head of an
    /// empty list): `current`, the head of `active`, stays where it is.
    @usableFromInline
    static func insertBehindHead(_ page: PagePointer, _ head: inout PagePointer?, state: UInt8) {
        guard let first = head else { return push(page, &head, state: state) }
        page.pointee.prev = first
        page.pointee.next = first.pointee.next
        first.pointee.next?.pointee.prev = page
        first.pointee.next = page
        page.pointee.listState = state
    }

    @usableFromInline
    static func unlink(_ page: PagePointer, from queue: UnsafeMutablePointer<ClassQueue>) {
        if page.pointee.listState == PageMeta.inFull {
            unlink(page, &queue.pointee.full)
        } else {
            unlink(page, &queue.pointee.active)
        }
        if queue.pointee.current == page { queue.pointee.current = queue.pointee.active }
    }

    // MARK: - Collecting remote frees

    /// Moves the page's remote-free stack onto its local list (owner, or lock holder for an
    /// abandoned page). Returns the number of blocks taken.
    @discardableResult
    static func collect(_ page: PagePointer, checked: Bool) -> Int {
        guard SegmentLayout.threadFree(page).pointee.load(ordering: .relaxed) != 0 else { return 0 }
        let head = SegmentLayout.threadFree(page).pointee.exchange(0, ordering: .acquiring)
        guard head != 0 else { return 0 }
        var count = 1
        var tail = UnsafeMutableRawPointer(bitPattern: head)!
        if checked { SizeClassHeap.clearCollected(page, tail) }
        while let next = Instrumentation.withLinkWord(tail, {
            tail.load(as: UnsafeMutableRawPointer?.self)
        }) {
            tail = next
            count += 1
            if checked { SizeClassHeap.clearCollected(page, tail) }
        }
        Instrumentation.withLinkWord(tail) {
            tail.storeBytes(of: page.pointee.localFree, as: UnsafeMutableRawPointer?.self)
        }
        page.pointee.localFree = UnsafeMutableRawPointer(bitPattern: head)
        page.pointee.used -= Int32(count)
        assert(page.pointee.used >= 0, "collected more remote frees than the page has blocks in use")
        return count
    }

    /// Links the next never-used blocks of the page onto its local list (a few KiB at a
    /// time, so a fresh page is touched gradually).
    static func carve(_ page: PagePointer) {
        let remaining = Int(page.pointee.capacity - page.pointee.carved)
        guard remaining > 0 else { return }
        let start = SegmentLayout.pageStart(page)
        let size = Int(page.pointee.blockSize)
        let count = min(remaining, max(4, 4096 / size))
        let first = start + Int(page.pointee.carved) * size
        var block = first
        for _ in 1..<count {
            let next = block + size
            Instrumentation.withLinkWord(block) {
                block.storeBytes(of: next, as: UnsafeMutableRawPointer?.self)
            }
            block = next
        }
        Instrumentation.withLinkWord(block) {
            block.storeBytes(of: page.pointee.localFree, as: UnsafeMutableRawPointer?.self)
        }
        page.pointee.localFree = first
        page.pointee.carved += Int32(count)
        assert(page.pointee.carved <= page.pointee.capacity, "carved past the page's capacity")
    }

    // MARK: - Allocation slow path

    /// Refills `queue` (class `cls`) and pops one block: current page's remote frees, fresh
    /// blocks, other active pages, then the full list, an abandoned page, a new page.
    @usableFromInline
    func allocateSlow(_ heap: ThreadHeapPointer, _ cls: Int) throws(OffHeapError)
        -> UnsafeMutableRawPointer
    {
        let queue = ThreadHeap.queue(heap, cls)
        let page = try refill(heap, queue, cls)
        return pop(page, queue)
    }

    @inline(__always)
    func pop(_ page: PagePointer, _ queue: UnsafeMutablePointer<ClassQueue>)
        -> UnsafeMutableRawPointer
    {
        let block = page.pointee.localFree!
        page.pointee.localFree = Instrumentation.withLinkWord(block) {
            block.load(as: UnsafeMutableRawPointer?.self)
        }
        page.pointee.used += 1
        assert(page.pointee.used <= page.pointee.capacity, "a page has more blocks in use than it holds")
        queue.pointee.allocations.ownerAdd(1)
        if checked { SizeClassHeap.markAllocated(page, block) }
        Instrumentation.allocated(
            block, byteCount: Int(page.pointee.blockSize), pool: instrumentationPool)
        return block
    }

    private func prepare(_ page: PagePointer, _ queue: UnsafeMutablePointer<ClassQueue>) -> Bool {
        queue.pointee.frees.ownerAdd(UInt64(HeapCore.collect(page, checked: checked)))
        if page.pointee.localFree == nil { HeapCore.carve(page) }
        return page.pointee.localFree != nil
    }

    func refill(
        _ heap: ThreadHeapPointer, _ queue: UnsafeMutablePointer<ClassQueue>, _ cls: Int
    ) throws(OffHeapError) -> PagePointer {
        // This thread's allocation slow path: its batched remote frees go out (a bound on
        // how long they wait, whatever the thread does next; RemoteBatch.swift).
        ThreadHeap.flushRemoteBatches(heap)
        // Active pages, current first; exhausted ones move to `full`.
        while let page = queue.pointee.current ?? queue.pointee.active {
            if prepare(page, queue) {
                queue.pointee.current = page
                return page
            }
            HeapCore.unlink(page, &queue.pointee.active)
            HeapCore.push(page, &queue.pointee.full, state: PageMeta.inFull)
            queue.pointee.current = queue.pointee.active
        }
        // Sweep the full list: remote frees may have landed there (local frees move a page
        // back to `active` themselves). Unless the last sweeps found nothing: see ClassQueue.
        var found: PagePointer?
        if queue.pointee.sweepSkip > 0 {
            queue.pointee.sweepSkip -= 1
        } else {
            var visited: Int32 = 0
            var cursor = queue.pointee.full
            while let page = cursor {
                cursor = page.pointee.next
                visited &+= 1
                queue.pointee.frees.ownerAdd(UInt64(HeapCore.collect(page, checked: checked)))
                if page.pointee.localFree != nil {
                    HeapCore.unlink(page, &queue.pointee.full)
                    if page.pointee.used == 0 && found != nil {
                        releasePage(page)
                    } else {
                        HeapCore.push(page, &queue.pointee.active, state: PageMeta.inActive)
                        if found == nil { found = page }
                    }
                }
            }
            if found != nil {
                queue.pointee.sweepBackoff = 0
            } else {
                let doubled = max(1, queue.pointee.sweepBackoff &* 2)
                queue.pointee.sweepBackoff = min(doubled, max(1, visited / 8))
                queue.pointee.sweepSkip = queue.pointee.sweepBackoff
            }
        }
        if let found {
            queue.pointee.current = found
            return found
        }
        if let page = adopt(heap, queue, cls) { return page }
        let page = try newPage(heap, cls)
        HeapCore.push(page, &queue.pointee.active, state: PageMeta.inActive)
        queue.pointee.current = page
        _ = prepare(page, queue)
        return page
    }

    /// Takes an abandoned page of class `cls`, if any, into `heap`.
    private func adopt(
        _ heap: ThreadHeapPointer, _ queue: UnsafeMutablePointer<ClassQueue>, _ cls: Int
    ) -> PagePointer? {
        while true {
            lock.lock()
            guard let page = abandoned[cls] else {
                lock.unlock()
                return nil
            }
            assert(page.pointee.listState == PageMeta.inAbandoned, "an abandoned page not marked so")
            assert(page.pointee.owner.load(ordering: .relaxed) == 0, "an abandoned page has an owner")
            HeapCore.unlink(page, &abandoned[cls])
            abandonedCount -= 1
            assert(abandonedCount >= 0, "more pages adopted than abandoned")
            // Release (message passing): publishes our attached record to lock-free readers
            // of `owner` (the free fast path's acquire); the lock orders the abandoner's writes.
            page.pointee.owner.store(UInt(bitPattern: heap), ordering: .releasing)
            lock.unlock()
            HeapCore.push(page, &queue.pointee.active, state: PageMeta.inActive)
            if prepare(page, queue) {
                queue.pointee.current = page
                return page
            }
            HeapCore.unlink(page, &queue.pointee.active)
            HeapCore.push(page, &queue.pointee.full, state: PageMeta.inFull)
        }
    }

    // MARK: - Pages from segments

    /// Formats a page of class `cls` in some segment (mapping one if needed), owned by `heap`.
    func newPage(_ heap: ThreadHeapPointer, _ cls: Int) throws(OffHeapError) -> PagePointer {
        let units = SizeClassTable.unitsPerPage(ofClass: cls)
        lock.lock()
        if nextPurgeAt != .max { purgeExpired(now: configuration.clock()) }
        var placement = findUnits(units)
        if placement == nil, let segment = takeCachedSegment() {
            link(segment)
            placement = findUnits(units)
        }
        lock.unlock()
        if placement == nil {
            let segment = try mapSegment()
            lock.lock()
            link(segment)
            placement = findUnits(units)
            lock.unlock()
        }
        // Unreachable (a fresh segment holds every page size); typed rather than trapping.
        guard let (segment, first) = placement else {
            throw .capacityExhausted(capacity: SegmentLayout.segmentSize)
        }
        return format(segment, first: first, units: units, cls: cls, owner: heap)
    }

    /// Claims `units` free units in a linked segment (lock held). Prefers committed units.
    private func findUnits(_ units: Int) -> (UnsafeMutableRawPointer, Int)? {
        var cursor = segments.head
        var fallback: (UnsafeMutableRawPointer, Int)?
        while let segment = cursor {
            let header = SegmentLayout.header(segment)
            let free = header.pointee.freeMask
            // The rest of the list is full too (`segments` is partitioned).
            if free == 0 { break }
            var runs = free
            if units == 4 { runs = free & (free >> 1) & (free >> 2) & (free >> 3) }
            if runs != 0 {
                let dirtyRuns = runs & header.pointee.dirtyMask
                if dirtyRuns != 0 {
                    return claim(segment, dirtyRuns.trailingZeroBitCount, units)
                }
                if fallback == nil { fallback = (segment, runs.trailingZeroBitCount) }
            }
            cursor = header.pointee.next
        }
        guard let (segment, first) = fallback else { return nil }
        return claim(segment, first, units)
    }

    private func claim(_ segment: UnsafeMutableRawPointer, _ first: Int, _ units: Int)
        -> (UnsafeMutableRawPointer, Int)
    {
        let header = SegmentLayout.header(segment)
        let mask = ((UInt64(1) << UInt64(units)) - 1) << UInt64(first)
        // Lock held: the header's lock-guarded fields are read only here and by its holders.
        assert(header.pointee.magic == SegmentLayout.magic, "a linked segment without its header")
        assert(header.pointee.freeMask & mask == mask, "claimed units that are not free")
        assert(mask & ~SegmentLayout.usableUnitsMask == 0, "claimed a metadata unit")
        let dirty = (header.pointee.dirtyMask & mask).nonzeroBitCount
        header.pointee.freeMask &= ~mask
        header.pointee.dirtyMask &= ~mask
        if header.pointee.freeMask == 0 && segments.tail != segment {
            segments.remove(segment)
            segments.append(segment)
        }
        dirtyBytes -= dirty * SegmentLayout.unitSize
        assert(dirtyBytes >= 0, "more dirty bytes claimed than recorded")
        committedBytes.wrappingAdd((units - dirty) * SegmentLayout.unitSize, ordering: .relaxed)
        return (segment, first)
    }

    private func format(
        _ segment: UnsafeMutableRawPointer, first: Int, units: Int, cls: Int,
        owner: ThreadHeapPointer
    ) -> PagePointer {
        let page = SegmentLayout.pageMeta(segment, first)
        let size = SizeClassTable.blockSize(ofClass: cls)
        let bytes = units * SegmentLayout.unitSize
        for unit in first..<(first + units) {
            SegmentLayout.pageMeta(segment, unit).pointee.leader = UInt8(first)
        }
        page.pointee.localFree = nil
        page.pointee.blockSize = Int32(size)
        page.pointee.capacity = Int32(bytes / size)
        page.pointee.carved = 0
        page.pointee.used = 0
        page.pointee.classIndex = UInt8(cls)
        page.pointee.unitCount = UInt8(units)
        page.pointee.divisor = UInt32(((UInt64(1) << 33) + UInt64(size) - 1) / UInt64(size))
        page.pointee.next = nil
        page.pointee.prev = nil
        page.pointee.listState = PageMeta.inNoList
        // Blocks not yet carved or handed out are free memory (carve brackets its links).
        if Instrumentation.isEnabled {
            Instrumentation.noAccess(SegmentLayout.pageStart(page), byteCount: bytes)
        }
        // Release (message passing): the descriptor above and the owner record (mapped and
        // `thread` stored before any page names it) are visible to whoever acquires `owner`.
        page.pointee.owner.store(UInt(bitPattern: owner), ordering: .releasing)
        return page
    }

    /// Returns an empty page (used == 0, in no list, no remote frees pending) to its segment.
    @usableFromInline
    func releasePage(_ page: PagePointer) {
        assert(page.pointee.used == 0, "released a page with blocks in use")
        assert(page.pointee.listState == PageMeta.inNoList, "released a page still in a list")
        assert(page.pointee.blockSize != 0, "released a unit that serves no page")
        assert(
            SegmentLayout.threadFree(page).pointee.load(ordering: .relaxed) == 0,
            "released a page with remote frees not collected")
        let start = SegmentLayout.pageStart(page)
        let segment = UnsafeMutableRawPointer(
            bitPattern: UInt(bitPattern: start) & ~SegmentLayout.segmentMask)!
        let first = Int(page.pointee.leader)
        let units = Int(page.pointee.unitCount)
        page.pointee.owner.store(0, ordering: .relaxed)
        page.pointee.blockSize = 0
        page.pointee.capacity = 0
        page.pointee.localFree = nil
        for unit in first..<(first + units) {
            SegmentLayout.pageMeta(segment, unit).pointee.leader = UInt8(unit)
        }
        let bytes = units * SegmentLayout.unitSize
        let mask = ((UInt64(1) << UInt64(units)) - 1) << UInt64(first)
        lock.lock()
        let keep = dirtyBytes + bytes <= configuration.retainedEmptyPageBytes
        let header = SegmentLayout.header(segment)
        assert(header.pointee.magic == SegmentLayout.magic, "a page's segment without its header")
        assert(header.pointee.freeMask & mask == 0, "released units that were already free")
        if header.pointee.freeMask == 0 && segments.head != segment {
            segments.remove(segment)
            segments.pushFront(segment)
        }
        header.pointee.freeMask |= mask
        let emptied = header.pointee.freeMask == SegmentLayout.usableUnitsMask
        // The clock only when something is scheduled, purged or cached below.
        let now = !keep || emptied || nextPurgeAt != .max ? configuration.clock() : 0
        if keep || configuration.purgeDelay > 0 {
            header.pointee.dirtyMask |= mask
            dirtyBytes += bytes
            if !keep { schedulePurge(segment, now: now) }
        } else {
            try? VirtualMemory.decommit(start, byteCount: bytes, mode: .dontNeed)
            committedBytes.wrappingSubtract(bytes, ordering: .relaxed)
        }
        var evicted: [UnsafeMutableRawPointer] = []
        if emptied {
            unlink(segment)
            cache(segment, now: now)
            evicted = enforceCachePolicy(now: now)
        }
        purgeExpired(now: now)
        lock.unlock()
        for segment in evicted { unmapSegment(segment) }
    }

    // MARK: - Segment lists (lock held)

    func link(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        assert(
            header.pointee.magic == SegmentLayout.magic && header.pointee.kind == SegmentLayout.kindSmall,
            "linked a segment that is not small")
        segments.pushFront(segment)
    }

    func unlink(_ segment: UnsafeMutableRawPointer) {
        segments.remove(segment)
    }

    /// Maps, formats and publishes a small segment (no lock held).
    func mapSegment() throws(OffHeapError) -> UnsafeMutableRawPointer {
        let region = try VirtualMemory.reserve(
            byteCount: SegmentLayout.segmentSize, alignment: SegmentLayout.segmentSize,
            committed: true)
        let segment = region.base
        SegmentLayout.header(segment).initialize(
            to: SegmentHeader(heapID: id, kind: SegmentLayout.kindSmall,
                              reservedBytes: region.byteCount))
        for unit in 0..<SegmentLayout.unitCount {
            let page = SegmentLayout.pageMeta(segment, unit)
            page.initialize(to: PageMeta(unit: UInt8(unit)))
            SegmentLayout.threadFree(page).initialize(to: Atomic(0))
        }
        do {
            try SegmentRegistry.shared.publish(segmentBase: UInt(bitPattern: segment), heapID: id)
        } catch {
            try? VirtualMemory.release(region)
            throw error
        }
        mappedSegments.wrappingAdd(1, ordering: .relaxed)
        committedBytes.wrappingAdd(
            SegmentLayout.metadataUnits * SegmentLayout.unitSize, ordering: .relaxed)
        return segment
    }

    /// Unpublishes and unmaps a segment nobody references (no lock held; the caller may be
    /// inside a free, whose announcement this ends).
    func unmapSegment(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        let bytes = header.pointee.reservedBytes
        let huge = header.pointee.kind == SegmentLayout.kindHuge
        SegmentRegistry.shared.unpublish(segmentBase: UInt(bitPattern: segment))
        // No free that read the entry before it was cleared may still be reading the
        // segment (ThreadRecord+FreeAnnouncement.swift).
        ThreadTables.shared.waitForFreesInProgress()
        try? VirtualMemory.release(segment, byteCount: bytes)
        if huge {
            committedBytes.wrappingSubtract(bytes, ordering: .relaxed)
        } else {
            mappedSegments.wrappingSubtract(1, ordering: .relaxed)
            committedBytes.wrappingSubtract(
                SegmentLayout.metadataUnits * SegmentLayout.unitSize, ordering: .relaxed)
        }
    }

    // MARK: - Thread exit

    /// Hands every page of an exiting thread to the heap: empty ones are released, the rest
    /// wait in `abandoned` for another thread (or `trim()`) to collect them. Then recycles
    /// the record. Runs under the directory lock.
    func abandon(_ heap: ThreadHeapPointer) {
        // Blocks this thread freed into others' pages go first: the record is recycled below.
        ThreadHeap.flushRemoteBatches(heap)
        for cls in 0..<SizeClassTable.classCount {
            let queue = ThreadHeap.queue(heap, cls)
            for listIsFull in [false, true] {
                while let page = listIsFull ? queue.pointee.full : queue.pointee.active {
                    if listIsFull {
                        HeapCore.unlink(page, &queue.pointee.full)
                    } else {
                        HeapCore.unlink(page, &queue.pointee.active)
                    }
                    queue.pointee.frees.ownerAdd(UInt64(HeapCore.collect(page, checked: checked)))
                    if page.pointee.used == 0 {
                        releasePage(page)
                    } else {
                        lock.lock()
                        // Every owner-side access of this page is above. Release (message
                        // passing) so a free that reads 0 (and goes remote) is ordered after
                        // them; the adopter is ordered by the lock.
                        page.pointee.owner.store(0, ordering: .releasing)
                        HeapCore.push(page, &abandoned[cls], state: PageMeta.inAbandoned)
                        abandonedCount += 1
                        lock.unlock()
                    }
                }
            }
            queue.pointee.current = nil
        }
        // No page names `heap` any more. A racing free that read `owner == heap` before that
        // and reads `thread` now sees 0 (or, once reused, its new thread's token): never the
        // racing caller's own token, since callers without a table (token 0) never reach the
        // owner test (`SizeClassHeap.smallPage`), and a caller that takes this record later
        // (under `lock`) can no longer read `owner == heap` for any page it does not own.
        heap.pointee.thread.store(0, ordering: .relaxed)
        lock.lock()
        heap.pointee.nextFree = freeRecords
        freeRecords = heap
        lock.unlock()
    }
}
