import Synchronization

/// A general-purpose, thread-caching allocator in the mimalloc style: memory comes from
/// 4 MiB segments split into 64 KiB pages, each page serves one size class and belongs to
/// one thread, which allocates and frees on it with no atomics; other threads free into the
/// page's atomic remote-free stack, which the owner takes whole when its local list runs dry.
///
/// ```swift
/// let heap = try SizeClassHeap()
/// let block = try heap.allocate(byteCount: 100, alignment: 8)
/// try heap.usableSize(of: block)            // 104
/// let bigger = try heap.reallocate(block, byteCount: 1000, alignment: 8)
/// try heap.deallocate(bigger)
/// heap.trim()                               // give free memory back to the kernel now
/// ```
///
/// - Sizes: 1 B … 32 KiB are served from pages (80 classes, ≤ 12.5 % rounding above 64 B);
///   larger requests (and alignments no class satisfies, up to 1 MiB) get their own mapping,
///   and a few recently freed ones are kept for reuse. `byteCount == 0` returns a distinct
///   8-byte block (like `malloc(0)`), which must be deallocated. A negative `byteCount`, or
///   more than ``maximumByteCount``, throws `.sizeTooLarge`.
/// - Bad input: a pointer into memory no segment of this heap covers is `.foreignPointer` in
///   every mode (the process-wide segment registry is consulted, or the calling thread's
///   one-entry cache of its last answer, which every segment unmap invalidates; nothing is
///   dereferenced before it answers), a pointer not 8-aligned is `.misalignedPointer`. In checked mode
///   (the default) a per-page bitmap also rejects `.doubleFree` and `.interiorPointer`;
///   unchecked mode skips the bitmap and trusts the caller for those two. A stale pointer
///   freed while ``trim()`` (or cache eviction) unmaps its segment, and two racing frees of
///   one huge block, get typed errors too (one free succeeds, the other is `.doubleFree` or
///   `.foreignPointer`), never a fault: every free announces itself in its thread's table
///   and an unmap waits for the frees that may have seen the segment before it was
///   unpublished (ThreadRecord+FreeAnnouncement.swift).
/// - Threads: each thread gets its share of the heap on first use; when it exits, its pages
///   are abandoned to the heap and adopted by the next thread that needs a page of that
///   class (or released by ``trim()`` once empty). Freeing from a thread that did not
///   allocate is always allowed. A thread can use at most 64 live heaps at once; allocating
///   from a 65th throws `.tooManyHeapsOnThread(limit: 64)` (frees still work).
/// - Release: empty pages are released to their segment (up to
///   ``Configuration/retainedEmptyPageBytes`` stay committed, the rest are decommitted once
///   they have been free for ``Configuration/purgeDelay``); empty segments wait in a cache
///   bounded by count, bytes and age, then are unmapped. ``trim()`` returns everything free
///   now; it can collect only the calling thread's pages and abandoned ones (pages of live
///   threads are theirs).
public final class SizeClassHeap: VariableSizeAllocator, @unchecked Sendable {
    // Hot-path map (grep the names), snmalloc-style:
    //   allocate(byteCount:alignment:)
    //     → smallClass(byteCount:alignment:)       one byte load        SizeClassLookup.swift
    //     → allocateFast(inClass:) → ThreadRecord.homeEntry → ThreadHeap.queue
    //         → page.localFree pop, used += 1, markAllocated (checked)
    //     → allocateSlowPath → allocate(inClass:) | allocateUncommon → core.allocateHuge
    //         → core.allocateSlow(_:_:) → refill(_:_:_:)                 HeapCore.swift
    //             → prepare: collect (remote frees) → carve (fresh blocks)
    //             → full-list sweep → adopt (abandoned page, lock)
    //             → newPage → findUnits / takeCachedSegment → mapSegment → VirtualMemory.reserve
    //             → format (owner store, release) → pop(_:_:)
    //   deallocate(_:) → deallocateFast(_:) (no call) → FreeRoute
    //     → FreeAnnouncement → smallPage(_:table:)                   segment cache | registry
    //     → owner test (page.owner acquire, heap.thread == token)
    //     → clearAllocatedIfLive (checked) → announcement ends → localFree push, used -= 1
    //   finishDeallocate(_:_:) (every other route)
    //     → .freedInto: pageFreedInto → HeapCore.releasePage → cache(segment) → unmapSegment
    //     → .notOwner: deallocateNotOwner → freeRemote (threadFree CAS)
    //     → .declined: deallocateSlowPath → validPage → freeLocal | freeRemote | core.freeHuge

    // @unchecked Sendable: all shared state is in `HeapCore` (lock + atomics) or in
    // thread-owned records reached through thread-local storage.

    /// Largest `byteCount` accepted (64 TiB).
    @inlinable public static var maximumByteCount: Int { 1 << 46 }
    /// Largest alignment accepted (1 MiB).
    @inlinable public static var maximumAlignment: Int { 1 << 20 }

    /// Tunables of one heap.
    public struct Configuration: Sendable {
        /// ``OffHeapChecking/checked`` (the default) keeps per-page allocation bitmaps so
        /// double frees and interior pointers are typed errors (one relaxed atomic RMW per
        /// allocate and free).
        public var checking: OffHeapChecking
        /// Empty segments kept mapped at most.
        public var maximumCachedSegments: Int
        /// Bytes of empty segments kept mapped at most (512 MiB).
        public var maximumCachedSegmentBytes: Int
        /// Nanoseconds an empty segment may wait before it is unmapped (60 s).
        public var maximumCachedSegmentAge: UInt64
        /// Bytes of empty pages left committed for quick reuse; beyond this, pages are
        /// decommitted once they have stayed free for ``purgeDelay``.
        public var retainedEmptyPageBytes: Int
        /// Nanoseconds free memory beyond ``retainedEmptyPageBytes`` (and the memory of an
        /// empty segment entering the cache) stays committed before it is decommitted
        /// (100 ms; mimalloc 2.1 waits 10 ms, jemalloc's dirty pages decay over 10 s); 0
        /// decommits at once. A program that frees and reallocates within the delay reuses
        /// committed memory instead of paying an `madvise` and a page fault per page;
        /// ``trim()`` decommits at once regardless.
        public var purgeDelay: UInt64
        /// Freed huge blocks (over 32 KiB, each its own mapping) kept mapped for reuse, at
        /// most (256). The byte bound, ``hugeCacheBytes``, is what limits the memory; a small
        /// count turns a workload of many mid-sized blocks into an mmap and munmap per block.
        public var hugeCacheCount: Int
        /// Bytes of freed huge blocks kept mapped for reuse, at most (64 MiB).
        public var hugeCacheBytes: Int
        /// Monotonic nanoseconds; injectable so tests can age the cache instantly.
        public var clock: @Sendable () -> UInt64

        /// Creates a configuration; every parameter sets the property of the same name.
        public init(
            checking: OffHeapChecking = .checked,
            maximumCachedSegments: Int = 256,
            maximumCachedSegmentBytes: Int = 512 << 20,
            maximumCachedSegmentAge: UInt64 = 60_000_000_000,
            retainedEmptyPageBytes: Int = 4 << 20,
            purgeDelay: UInt64 = 100_000_000,
            hugeCacheCount: Int = 256,
            hugeCacheBytes: Int = 64 << 20,
            clock: @escaping @Sendable () -> UInt64 = { MonotonicClock.nanoseconds }
        ) {
            self.checking = checking
            self.maximumCachedSegments = maximumCachedSegments
            self.maximumCachedSegmentBytes = maximumCachedSegmentBytes
            self.maximumCachedSegmentAge = maximumCachedSegmentAge
            self.retainedEmptyPageBytes = retainedEmptyPageBytes
            self.purgeDelay = purgeDelay
            self.hugeCacheCount = hugeCacheCount
            self.hugeCacheBytes = hugeCacheBytes
            self.clock = clock
        }

        func validate() throws(OffHeapError) {
            guard maximumCachedSegments >= 0 else {
                throw .invalidConfiguration(reason: "maximumCachedSegments < 0")
            }
            guard maximumCachedSegmentBytes >= 0 else {
                throw .invalidConfiguration(reason: "maximumCachedSegmentBytes < 0")
            }
            guard retainedEmptyPageBytes >= 0 else {
                throw .invalidConfiguration(reason: "retainedEmptyPageBytes < 0")
            }
            guard hugeCacheCount >= 0, hugeCacheBytes >= 0 else {
                throw .invalidConfiguration(reason: "huge cache bounds < 0")
            }
        }
    }

    @usableFromInline let core: HeapCore
    /// The process-wide registry, held here so the free path needs no global-init check.
    @usableFromInline let registry: SegmentRegistry
    /// The registry's first level, copied here so the free path reaches it in one load.
    @usableFromInline let registryLevelOne: UnsafeMutablePointer<Atomic<UInt>>
    @usableFromInline let id: UInt64
    /// Byte offset of this heap's home entry (`id & 63`) in a thread's table.
    @usableFromInline let threadEntryOffset: Int
    /// ``SizeClassLookup``'s table, copied here so the allocate fast path reaches it in one load.
    @usableFromInline let classLookup: UnsafePointer<UInt8>
    @usableFromInline let checked: Bool
    /// Frees announce themselves with a relaxed store and unmaps pay a membarrier
    /// (``AsymmetricFence/isAvailable``, fixed per process; ThreadRecord+FreeAnnouncement.swift).
    @usableFromInline let lightAnnouncements: Bool

    /// A new, empty heap. Nothing is mapped until the first allocation.
    ///
    /// - Throws: `.invalidConfiguration` for a negative bound; `.mappingFailed` if the
    ///   process-wide segment registry could not be mapped.
    public init(configuration: Configuration = Configuration()) throws(OffHeapError) {
        try configuration.validate()
        registry = SegmentRegistry.shared
        guard let levelOne = registry.levelOne else { throw .mappingFailed(errno: 12) }
        registryLevelOne = levelOne
        guard let classes = SizeClassLookup.shared.classes else { throw .mappingFailed(errno: 12) }
        classLookup = classes
        id = HeapDirectory.shared.makeID()
        threadEntryOffset = ThreadRecord.entryOffset(id)
        checked = configuration.checking == .checked
        lightAnnouncements = AsymmetricFence.isAvailable
        core = HeapCore(id: id, configuration: configuration)
        HeapDirectory.shared.insert(core)
    }

    deinit { core.shutdown() }

    /// The configuration this heap was made with.
    public var configuration: Configuration { core.configuration }

    // MARK: - Allocate

    /// A block of at least `byteCount` bytes aligned to `alignment` (a power of two ≤ 1 MiB).
    ///
    /// The fast path is class (one byte load, `SizeClassLookup`) → TLS → thread heap →
    /// class queue → page → pop: no atomic
    /// read-modify-write (checked mode adds a bitmap load and store), no lookup, no throw
    /// site and no call; anything else (first use on a thread, an empty page, large or
    /// oddly aligned requests, errors) goes to one out-of-line slow path.
    @inlinable @inline(__always)
    public func allocate(byteCount: Int, alignment: Int = 16) throws(OffHeapError)
        -> UnsafeMutableRawPointer
    {
        if let block = allocateFast(byteCount: byteCount, alignment: alignment) { return block }
        return try allocateSlowPath(byteCount: byteCount, alignment: alignment)
    }

    /// ``allocate(byteCount:alignment:)``'s fast path alone: a small request (≤ 1 KiB,
    /// alignment ≤ 16) served from the calling thread's current page, or `nil` for anything
    /// else, which ``allocateSlowPath(byteCount:alignment:)`` then handles. Makes no call.
    @inlinable @inline(__always)
    internal func allocateFast(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        guard UInt(bitPattern: byteCount) <= UInt(SizeClassTable.maxSmallSize),
            UInt(bitPattern: alignment &- 1) < 16, alignment & (alignment &- 1) == 0
        else { return nil }
        return allocateFast(inClass: smallClass(byteCount: byteCount, alignment: alignment))
    }

    /// Pops a block from the calling thread's current page of class `cls`, or `nil` when
    /// that needs the slow path (thread not attached, no current page, page list empty).
    @inlinable @inline(__always)
    internal func allocateFast(inClass cls: Int) -> UnsafeMutableRawPointer? {
        guard let entry = ThreadRecord.homeEntry(entryOffset: threadEntryOffset),
            entry.pointee.heapID == id
        else { return nil }
        // A matching entry always names its record (see `ThreadRecordEntry`).
        let heap = entry.pointee.heap.unsafelyUnwrapped
        let queue = ThreadHeap.queue(heap, cls)
        guard let page = queue.pointee.current, let block = page.pointee.localFree else {
            return nil
        }
        page.pointee.localFree = Instrumentation.withLinkWord(block) {
            block.load(as: UnsafeMutableRawPointer?.self)
        }
        page.pointee.used &+= 1
        assert(page.pointee.used <= page.pointee.capacity, "a page has more blocks in use than it holds")
        queue.pointee.allocations.ownerAdd(1)
        if checked { SizeClassHeap.markAllocated(page, block) }
        Instrumentation.allocated(
            block, byteCount: Int(page.pointee.blockSize), pool: core.instrumentationPool)
        return block
    }

    /// Everything ``allocate(byteCount:alignment:)``'s fast path does not handle.
    @usableFromInline @inline(never)
    internal func allocateSlowPath(byteCount: Int, alignment: Int) throws(OffHeapError)
        -> UnsafeMutableRawPointer
    {
        guard UInt(bitPattern: byteCount) <= UInt(SizeClassTable.maxSmallSize),
            UInt(bitPattern: alignment &- 1) < 16, alignment & (alignment &- 1) == 0
        else {
            return try allocateUncommon(byteCount: byteCount, alignment: alignment)
        }
        return try allocate(inClass: smallClass(byteCount: byteCount, alignment: alignment))
    }

    @usableFromInline
    internal func allocate(inClass cls: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        if let block = allocateFast(inClass: cls) { return block }
        guard let heap = ThreadRecord.lookup(id) else {
            return try core.allocateSlow(core.attachThread(), cls)
        }
        return try core.allocateSlow(heap, cls)
    }

    @usableFromInline
    internal func allocateUncommon(byteCount: Int, alignment: Int) throws(OffHeapError)
        -> UnsafeMutableRawPointer
    {
        guard alignment > 0, alignment & (alignment - 1) == 0,
            alignment <= SizeClassHeap.maximumAlignment
        else { throw .invalidAlignment(alignment) }
        guard byteCount >= 0, byteCount <= SizeClassHeap.maximumByteCount else {
            throw .sizeTooLarge(requested: byteCount, limit: SizeClassHeap.maximumByteCount)
        }
        let size = max(byteCount, 1)
        let cls = alignment <= 8
            ? (size <= SizeClassTable.maxSmallSize
                ? SizeClassTable.classIndex(forByteCount: size) : -1)
            : SizeClassTable.classIndex(forByteCount: size, alignment: alignment)
        if cls < 0 { return try core.allocateHuge(byteCount: size, alignment: alignment) }
        return try allocate(inClass: cls)
    }

    // MARK: - Free

    /// Returns a block from ``allocate(byteCount:alignment:)`` of this heap, from any thread.
    ///
    /// The fast path (the calling thread owns the block's page) is: mask to the segment,
    /// a hit in the thread's segment cache (else one registry lookup), the page descriptor
    /// by unit index, the owner compare (which also proves the unit serves a page), a push
    /// on the page's local list; checked mode adds the bitmap test and clear. It has no
    /// throw site: a pointer it does not accept goes to the slow path, which checks
    /// everything again and throws the typed error.
    ///
    /// - Throws: `.misalignedPointer`, `.foreignPointer`; in checked mode also
    ///   `.interiorPointer` and `.doubleFree` (and `.foreignPointer` for the unused tail of a
    ///   page and, from the page's owner thread, for a block of it never handed out; other
    ///   threads cannot read the owner's carve cursor and report `.doubleFree` for it).
    ///   A rejected call changes nothing.
    @inlinable @inline(__always)
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        let route = deallocateFast(pointer)
        if case .freed = route { return }
        try finishDeallocate(pointer, route)
    }

    /// ``deallocate(_:)``'s fast path alone: frees `pointer` when the calling thread owns its
    /// page and (checked mode) the block is live, and otherwise changes nothing and says
    /// which slow path finishes the free (``finishDeallocate(_:_:)``). Makes no call, so a
    /// caller that returns at once on ``FreeRoute/freed`` and tail-calls the slow path
    /// needs no stack frame (liboffheap-malloc's `free`).
    @inlinable @inline(__always)
    internal func deallocateFast(_ pointer: UnsafeMutableRawPointer) -> FreeRoute {
        guard let table = ThreadRecord.slot.value else { return .noTable }
        // Announced before the registry (or segment cache) is read, and ended once the page
        // is known to be ours, or by the slow path: an unmap waits for us
        // (ThreadRecord+FreeAnnouncement.swift).
        let announcement = FreeAnnouncement(table: table, light: lightAnnouncements)
        guard let (page, token) = smallPage(pointer, table: table) else {
            return .declined(announcement)
        }
        // Owner test without the heap-id lookup: the page names its owner's record, and a
        // record carries the token of the thread it is attached to (see `ThreadHeap`).
        // Acquire (message passing): pairs with the release store of `owner` in format or
        // adopt, so the record it names (mapped, initialised, `thread` stored) and the page
        // descriptor are visible before we read them. A plain load on x86-64.
        let owner = page.pointee.owner.load(ordering: .acquiring)
        guard owner != 0 else { return .notOwner(page, announcement) }
        let heap = ThreadHeapPointer(bitPattern: owner).unsafelyUnwrapped
        guard heap.pointee.thread.load(ordering: .relaxed) == token else {
            return .notOwner(page, announcement)
        }
        assert(page.pointee.blockSize != 0, "a page with an owner has no block size")
        if checked && !SizeClassHeap.clearAllocatedIfLive(page, pointer) {
            return .declined(announcement)
        }
        // The page is the calling thread's: only this thread releases it (a local free, its
        // own allocation or trim, its exit), so its segment stays mapped without the
        // announcement, and the rest of the free and `pageFreedInto` run after it ends.
        announcement.end()
        Instrumentation.freed(
            pointer, byteCount: Int(page.pointee.blockSize), pool: core.instrumentationPool)
        Instrumentation.withLinkWord(pointer) {
            pointer.storeBytes(of: page.pointee.localFree, as: UnsafeMutableRawPointer?.self)
        }
        page.pointee.localFree = pointer
        let used = page.pointee.used &- 1
        assert(used >= 0, "a page's in-use count went below zero (a block freed twice?)")
        page.pointee.used = used
        let queue = ThreadHeap.queue(heap, Int(page.pointee.classIndex))
        queue.pointee.frees.ownerAdd(1)
        if (used == 0 && queue.pointee.current != page) || page.pointee.listState == PageMeta.inFull {
            return .freedInto(queue, page)
        }
        return .freed
    }

    /// Finishes a free that ``deallocateFast(_:)`` routed elsewhere: every check with its
    /// typed error, huge blocks, attach, remote frees, page moves; ends the announcement the
    /// route carries.
    ///
    /// - Throws: as ``deallocate(_:)``.
    @usableFromInline @inline(never)
    internal func finishDeallocate(_ pointer: UnsafeMutableRawPointer, _ route: FreeRoute)
        throws(OffHeapError)
    {
        switch route {
        case .freed:
            return
        case .freedInto(let queue, let page):
            pageFreedInto(queue, page)
        case .notOwner(let page, let announcement):
            defer { announcement.end() }
            try deallocateNotOwner(page, pointer)
        case .declined(let announcement):
            defer { announcement.end() }
            try deallocateSlowPath(pointer)
        case .noTable:
            try deallocateWithoutTable(pointer)
        }
    }

    /// The descriptor of an 8-aligned pointer's unit leader in a small segment of this heap,
    /// with the calling thread's token (``ThreadRecord/currentToken``, never 0 here), or `nil`
    /// for anything else (huge block, foreign, misaligned, a thread with no table yet): the
    /// fast-path filter. The descriptor may be
    /// of a unit that serves no page (`blockSize == 0`); such a descriptor has `owner == 0`
    /// (release clears `owner`, and only format sets it), so the owner test sends it to
    /// ``deallocateNotOwner(_:_:)``, which checks `blockSize` first. Reads nothing of a
    /// segment before the registry (or the thread's segment cache, see below) says this heap
    /// owns it and it is a small segment.
    ///
    /// Segment cache: the calling thread's ``SegmentCacheEntry`` remembers the last small
    /// segment the registry confirmed for a heap, with the registry's unmap epoch read
    /// (acquire) *before* that lookup; a hit needs the same base, heap id and epoch.
    /// ``SegmentRegistry/unpublish(segmentBase:)`` bumps the epoch after clearing the entry
    /// and before the segment is unmapped, so a hit means no unpublish was observed since a
    /// lookup that answered this heap: a fresh lookup would answer the same, and the header's
    /// `kind` cannot have changed (it is fixed while the segment is published). A stale entry
    /// therefore never lets a pointer read memory the registry would not have let it read.
    /// The registry's own window (a segment unpublished and unmapped between the check and
    /// the header read: a stale free racing ``trim()``, or the second of two racing frees of
    /// a huge block) is closed by the caller's free announcement on `table`: the unmap waits
    /// for it (ThreadRecord+FreeAnnouncement.swift). No table means token 0, the value of
    /// every free record's `thread`: such a caller never gets here (``deallocate(_:)``
    /// creates the table first).
    @inlinable @inline(__always)
    internal func smallPage(
        _ pointer: UnsafeMutableRawPointer, table: UnsafeMutableRawPointer
    ) -> (PagePointer, UInt)? {
        let address = UInt(bitPattern: pointer)
        let base = address & ~SegmentLayout.segmentMask
        guard address & 7 == 0 else { return nil }
        let epoch = SegmentRegistry.unmapEpoch(levelOne: registryLevelOne)
            .pointee.load(ordering: .acquiring)
        if ThreadRecord.segmentCache(table).pointee.segmentBase == base,
            ThreadRecord.segmentCache(table).pointee.heapID == id,
            ThreadRecord.segmentCache(table).pointee.epoch == epoch
        {
            // Hit: this heap's small segment, as of a lookup no unpublish has followed.
            // (A zeroed cache entry names heap 0, and heap ids start at 1: base 0 never hits.)
        } else {
            // The registry first: it never names base 0 (any address below 4 MiB), so the
            // segment pointer is formed only for a real segment, never unwrapped from nil.
            guard SegmentRegistry.owner(ofSegment: base, levelOne: registryLevelOne) == id,
                SegmentLayout.header(UnsafeMutableRawPointer(bitPattern: base).unsafelyUnwrapped)
                    .pointee.kind == SegmentLayout.kindSmall
            else { return nil }
            ThreadRecord.segmentCache(table).pointee =
                SegmentCacheEntry(heapID: id, segmentBase: base, epoch: epoch)
        }
        let segment = UnsafeMutableRawPointer(bitPattern: base).unsafelyUnwrapped
        let unit = Int(truncatingIfNeeded: (address & SegmentLayout.segmentMask)
            &>> UInt(SegmentLayout.unitShift))
        return (SegmentLayout.pageMeta(
            segment, Int(SegmentLayout.pageMeta(segment, unit).pointee.leader)),
            UInt(bitPattern: table))
    }

    /// A free by a thread with no table yet: creates it (so the free can be announced; the
    /// attach would create it anyway), then frees.
    ///
    /// - Throws: as ``deallocate(_:)``; `.threadStartFailed` or `.mappingFailed` when the
    ///   table cannot be created.
    @usableFromInline @inline(never)
    internal func deallocateWithoutTable(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        _ = try ThreadRecord.current()
        try deallocate(pointer)
    }

    /// The full free: every check with its typed error, huge blocks, attach, remote frees.
    @usableFromInline @inline(never)
    internal func deallocateSlowPath(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        let page = try validPage(pointer)
        guard let page else { return }  // a huge block, already freed
        guard let heap = ThreadRecord.lookup(id) else {
            return try deallocateUnattached(page, pointer)
        }
        if page.pointee.owner.load(ordering: .relaxed) == UInt(bitPattern: heap) {
            try freeLocal(heap, page, pointer)
        } else {
            if checked { try SizeClassHeap.markFreedRemotely(page, pointer) }
            freeRemote(heap, page, pointer)
        }
    }

    /// A small segment's unit descriptor whose page the calling thread does not own (or has
    /// no entry for yet); a unit serving no page goes to the slow path's typed error.
    @usableFromInline @inline(never)
    internal func deallocateNotOwner(_ page: PagePointer, _ pointer: UnsafeMutableRawPointer)
        throws(OffHeapError)
    {
        guard page.pointee.blockSize != 0 else { return try deallocateSlowPath(pointer) }
        guard let heap = ThreadRecord.lookup(id) else {
            return try deallocateUnattached(page, pointer)
        }
        if checked { try SizeClassHeap.markFreedRemotely(page, pointer) }
        freeRemote(heap, page, pointer)
    }

    /// Owner path: push on the page's local list; no atomic read-modify-write.
    @usableFromInline
    internal func freeLocal(
        _ heap: ThreadHeapPointer, _ page: PagePointer, _ pointer: UnsafeMutableRawPointer
    ) throws(OffHeapError) {
        if checked { try SizeClassHeap.markFreedByOwner(page, pointer) }
        Instrumentation.freed(
            pointer, byteCount: Int(page.pointee.blockSize), pool: core.instrumentationPool)
        Instrumentation.withLinkWord(pointer) {
            pointer.storeBytes(of: page.pointee.localFree, as: UnsafeMutableRawPointer?.self)
        }
        page.pointee.localFree = pointer
        page.pointee.used &-= 1
        assert(page.pointee.used >= 0, "a page's in-use count went below zero (a block freed twice?)")
        let queue = ThreadHeap.queue(heap, Int(page.pointee.classIndex))
        queue.pointee.frees.ownerAdd(1)
        if page.pointee.used == 0 || page.pointee.listState == PageMeta.inFull {
            pageFreedInto(queue, page)
        }
    }

    /// The calling thread has no fast-path entry for this heap: attach (which also repairs
    /// a displaced entry), then free as owner or remotely.
    @usableFromInline
    internal func deallocateUnattached(_ page: PagePointer, _ pointer: UnsafeMutableRawPointer)
        throws(OffHeapError)
    {
        // Attaching may wait for the heap directory's lock, which an exiting thread holds
        // while its pages are released (and unmaps wait for announced frees): step out of
        // the announcement to attach, then start this free again (an unmap may have run).
        if let table = ThreadRecord.slot.value, ThreadRecord.freeSequence(table).pointee.load(
            ordering: .relaxed) & 1 != 0
        {
            ThreadRecord.endFree(table)
            let attached = (try? core.attachThread()) != nil
            _ = ThreadRecord.announceFree(table, light: lightAnnouncements)
            if attached { return try deallocateSlowPath(pointer) }
            // No entry can be had (64 live heaps on this thread): free remotely.
            let page = try validPage(pointer)
            guard let page else { return }
            if checked { try SizeClassHeap.markFreedRemotely(page, pointer) }
            return freeRemote(nil, page, pointer)
        }
        let heap = try? core.attachThread()
        if let heap, page.pointee.owner.load(ordering: .relaxed) == UInt(bitPattern: heap) {
            return try freeLocal(heap, page, pointer)
        }
        if checked { try SizeClassHeap.markFreedRemotely(page, pointer) }
        freeRemote(heap, page, pointer)
    }

    /// The page of a small block after the registry and descriptor checks; `nil` after
    /// freeing a huge block.
    @usableFromInline
    internal func validPage(_ pointer: UnsafeMutableRawPointer, free: Bool = true)
        throws(OffHeapError) -> PagePointer?
    {
        let address = UInt(bitPattern: pointer)
        guard address & 7 == 0 else { throw .misalignedPointer }
        let base = address & ~SegmentLayout.segmentMask
        guard let segment = UnsafeMutableRawPointer(bitPattern: base),
            registry.owner(ofSegment: base) == id
        else { throw .foreignPointer }
        let header = SegmentLayout.header(segment)
        guard header.pointee.kind == SegmentLayout.kindSmall else {
            // A huge block's mapping can be shorter than the 4 MiB window the registry names
            // it by; the rest of the window is not this heap's, and another allocator's
            // mapping may lie there (glibc's, under liboffheap-malloc).
            guard address - base < UInt(header.pointee.reservedBytes) else {
                throw .foreignPointer
            }
            if free { try core.freeHuge(segment, pointer) }
            return nil
        }
        let unit = Int(truncatingIfNeeded: (address & SegmentLayout.segmentMask)
            &>> UInt(SegmentLayout.unitShift))
        let page = SegmentLayout.pageMeta(
            segment, Int(SegmentLayout.pageMeta(segment, unit).pointee.leader))
        guard page.pointee.blockSize != 0 else { throw .foreignPointer }
        return page
    }

    /// The owner freed a block into a full page, or emptied a page. A full page goes back to
    /// `active`, behind `current` (mimalloc's `_mi_page_unfull`), so its free blocks are
    /// used before a new page is formatted; an empty page other than `current` (which would
    /// be refilled at once) is released.
    @usableFromInline @inline(never)
    internal func pageFreedInto(_ queue: UnsafeMutablePointer<ClassQueue>, _ page: PagePointer) {
        if page.pointee.listState == PageMeta.inFull {
            HeapCore.unlink(page, &queue.pointee.full)
            HeapCore.insertBehindHead(page, &queue.pointee.active, state: PageMeta.inActive)
        }
        guard page.pointee.used == 0, queue.pointee.current != page else { return }
        HeapCore.unlink(page, from: queue)
        core.releasePage(page)
    }

    /// Frees `block` into another thread's page: into the calling thread's batch for that
    /// page (RemoteBatch.swift), or, for a thread with no record in this heap, straight onto
    /// the page's remote-free stack (release CAS; see ``PageMeta``).
    @usableFromInline @inline(__always)
    internal func freeRemote(
        _ heap: ThreadHeapPointer?, _ page: PagePointer, _ block: UnsafeMutableRawPointer
    ) {
        Instrumentation.freed(
            block, byteCount: Int(page.pointee.blockSize), pool: core.instrumentationPool)
        #if OFFHEAP_MUTANTS
            if mutantDropsRemoteFree() { return }
        #endif
        if let heap {
            heap.pointee.remoteFrees.ownerAdd(1)
            return ThreadHeap.batchRemoteFree(heap, page, block)
        }
        RemoteBatch.push(head: block, tail: block, onto: page)
        core.unattachedRemoteFrees.wrappingAdd(1, ordering: .relaxed)
    }

    // MARK: - Checked mode
    //
    // Two bitmaps per page (see `SegmentLayout`). The *allocated* bitmap is written only by
    // the page's owner, with relaxed atomic load + store (plain moves, no lock prefix), so the
    // owner's allocate and free stay RMW-free; others only read it. The *remote* bitmap
    // marks blocks freed by other threads and not yet collected: a remote free sets its bit
    // with one atomic OR (which also catches a second remote free of the same block); the
    // owner clears both bits when it collects the block. A block is live exactly when its
    // allocated bit is set and its remote bit is clear. Sequential double frees are caught
    // in every combination of threads; two threads freeing the same block at the same
    // instant is a race in the caller that the bitmaps may miss.

    @inlinable @inline(__always)
    static func bitmapIndex(_ page: PagePointer, _ block: UnsafeMutableRawPointer)
        throws(OffHeapError) -> (UnsafeMutableRawPointer, word: Int, bit: UInt64)
    {
        let start = SegmentLayout.pageStart(page)
        let offset = block - start
        let index = Int(truncatingIfNeeded:
            (UInt64(truncatingIfNeeded: offset) &* UInt64(page.pointee.divisor)) &>> 33)
        guard offset >= 0, index < Int(page.pointee.capacity) else { throw .foreignPointer }
        guard index &* Int(page.pointee.blockSize) == offset else { throw .interiorPointer }
        let segment = UnsafeMutableRawPointer(
            bitPattern: UInt(bitPattern: start) & ~SegmentLayout.segmentMask)!
        return (segment, Int(page.pointee.leader) &* 128 &+ (index &>> 6),
                UInt64(1) &<< UInt64(index & 63))
    }

    /// Owner: sets the block's allocated bit. `block` came off the page's local list, so it
    /// is a block start; the bound check only keeps a list corrupted by a use-after-free
    /// write from setting a bit outside this page's bitmap (no throw site: fast path).
    @inlinable @inline(__always)
    static func markAllocated(_ page: PagePointer, _ block: UnsafeMutableRawPointer) {
        let start = SegmentLayout.pageStartAddress(page)
        let offset = UInt64(truncatingIfNeeded: UInt(bitPattern: block) &- start)
        let index = (offset &* UInt64(page.pointee.divisor)) &>> 33
        guard index < UInt64(UInt32(bitPattern: page.pointee.capacity)) else { return }
        let segment = UnsafeMutableRawPointer(bitPattern: start & ~SegmentLayout.segmentMask)
            .unsafelyUnwrapped
        let allocated = SegmentLayout.allocatedBitmap(segment)
            + (Int(page.pointee.leader) &* 128 &+ Int(truncatingIfNeeded: index &>> 6))
        allocated.pointee.store(
            allocated.pointee.load(ordering: .relaxed) | (UInt64(1) &<< (index & 63)),
            ordering: .relaxed)
    }

    /// Owner: checks the block is live and clears its allocated bit.
    @inlinable @inline(__always)
    static func markFreedByOwner(_ page: PagePointer, _ block: UnsafeMutableRawPointer)
        throws(OffHeapError)
    {
        let (segment, word, bit) = try bitmapIndex(page, block)
        let allocated = SegmentLayout.allocatedBitmap(segment) + word
        let current = allocated.pointee.load(ordering: .relaxed)
        guard current & bit != 0,
            SegmentLayout.remoteBitmap(segment)[word].load(ordering: .relaxed) & bit == 0
        else { throw neverCarvedOrDoubleFree(page, block) }
        allocated.pointee.store(current & ~bit, ordering: .relaxed)
    }

    /// Owner only (it alone may read `carved`): a block beyond the page's carve cursor was
    /// never handed out, so freeing it is `.foreignPointer`, not `.doubleFree`. Other
    /// threads cannot tell the two apart (the cursor is the owner's) and say `.doubleFree`.
    @usableFromInline
    static func neverCarvedOrDoubleFree(_ page: PagePointer, _ block: UnsafeMutableRawPointer)
        -> OffHeapError
    {
        let offset = block - SegmentLayout.pageStart(page)
        return offset >= Int(page.pointee.carved) &* Int(page.pointee.blockSize)
            ? .foreignPointer : .doubleFree
    }

    /// Owner fast path: if `block` is a live block start of `page`, clears its allocated bit
    /// and returns true; otherwise changes nothing and returns false (the slow path then
    /// throws the precise error).
    @inlinable @inline(__always)
    static func clearAllocatedIfLive(_ page: PagePointer, _ block: UnsafeMutableRawPointer)
        -> Bool
    {
        let start = SegmentLayout.pageStartAddress(page)
        let offset = UInt(bitPattern: block) &- start
        let index = (UInt64(truncatingIfNeeded: offset) &* UInt64(page.pointee.divisor)) &>> 33
        // `offset` is unsigned: a block below the page start wraps to a huge value and fails
        // the exact-multiple test (index < capacity bounds index * blockSize below 2^18).
        guard index < UInt64(UInt32(bitPattern: page.pointee.capacity)),
            index &* UInt64(UInt32(bitPattern: page.pointee.blockSize))
                == UInt64(truncatingIfNeeded: offset)
        else { return false }
        let segment = UnsafeMutableRawPointer(bitPattern: start & ~SegmentLayout.segmentMask)
            .unsafelyUnwrapped
        let word = Int(page.pointee.leader) &* 128 &+ Int(truncatingIfNeeded: index &>> 6)
        let bit = UInt64(1) &<< (index & 63)
        let allocated = SegmentLayout.allocatedBitmap(segment) + word
        let current = allocated.pointee.load(ordering: .relaxed)
        guard current & bit != 0,
            SegmentLayout.remoteBitmap(segment)[word].load(ordering: .relaxed) & bit == 0
        else { return false }
        allocated.pointee.store(current & ~bit, ordering: .relaxed)
        return true
    }

    /// Any other thread: checks the block is live and marks it remotely freed.
    @inlinable @inline(__always)
    static func markFreedRemotely(_ page: PagePointer, _ block: UnsafeMutableRawPointer)
        throws(OffHeapError)
    {
        let (segment, word, bit) = try bitmapIndex(page, block)
        guard SegmentLayout.allocatedBitmap(segment)[word].load(ordering: .relaxed) & bit != 0,
            SegmentLayout.remoteBitmap(segment)[word].bitwiseOr(bit, ordering: .relaxed)
                .oldValue & bit == 0
        else { throw .doubleFree }
    }

    /// Owner (or the heap-lock holder for an abandoned page): a collected remote free.
    static func clearCollected(_ page: PagePointer, _ block: UnsafeMutableRawPointer) {
        guard let (segment, word, bit) = try? bitmapIndex(page, block) else { return }
        SegmentLayout.remoteBitmap(segment)[word].bitwiseAnd(~bit, ordering: .relaxed)
        let allocated = SegmentLayout.allocatedBitmap(segment) + word
        allocated.pointee.store(allocated.pointee.load(ordering: .relaxed) & ~bit, ordering: .relaxed)
    }

    @inlinable
    static func isAllocated(_ page: PagePointer, _ block: UnsafeMutableRawPointer)
        throws(OffHeapError)
    {
        let (segment, word, bit) = try bitmapIndex(page, block)
        guard SegmentLayout.allocatedBitmap(segment)[word].load(ordering: .relaxed) & bit != 0,
            SegmentLayout.remoteBitmap(segment)[word].load(ordering: .relaxed) & bit == 0
        else { throw .doubleFree }
    }

    // MARK: - Size queries and reallocation

    /// Bytes usable in the block at `pointer` (its class size, or its mapping's length).
    ///
    /// - Throws: as ``deallocate(_:)-(UnsafeMutableRawPointer)`` for a pointer that is not a live block.
    public func usableSize(of pointer: UnsafeMutableRawPointer) throws(OffHeapError) -> Int {
        // Reads the segment like a free: announced the same way.
        let table = UnsafeMutableRawPointer(try ThreadRecord.current())
        let announced = ThreadRecord.announceFree(table, light: lightAnnouncements)
        defer { if announced { ThreadRecord.endFree(table) } }
        return try usableSizeAnnounced(pointer)
    }

    @usableFromInline
    internal func usableSizeAnnounced(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError)
        -> Int
    {
        guard let page = try validPage(pointer, free: false) else {
            // validPage returned nil only after the registry named this heap for the
            // (non-zero) segment base.
            guard let segment = UnsafeMutableRawPointer(
                bitPattern: UInt(bitPattern: pointer) & ~SegmentLayout.segmentMask)
            else { throw .foreignPointer }
            let header = SegmentLayout.header(segment)
            guard pointer == segment + header.pointee.hugeOffset else { throw .interiorPointer }
            guard header.pointee.hugeLive.load(ordering: .acquiring) == 1 else {
                throw .doubleFree
            }
            return header.pointee.reservedBytes - header.pointee.hugeOffset
        }
        if checked {
            do {
                try SizeClassHeap.isAllocated(page, pointer)
            } catch {
                // The owner may read its carve cursor: as `deallocate` would say.
                if error == .doubleFree, let heap = ThreadRecord.lookup(id),
                    page.pointee.owner.load(ordering: .relaxed) == UInt(bitPattern: heap)
                {
                    throw SizeClassHeap.neverCarvedOrDoubleFree(page, pointer)
                }
                throw error
            }
        }
        return Int(page.pointee.blockSize)
    }

    /// Resizes a block: the same pointer when it already fits, else a new block holding the
    /// old contents (the old one is freed). `nil` allocates.
    public func reallocate(
        _ pointer: UnsafeMutableRawPointer?, byteCount: Int, alignment: Int = 16
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard let pointer else { return try allocate(byteCount: byteCount, alignment: alignment) }
        let usable = try usableSize(of: pointer)
        if byteCount >= 0, byteCount <= usable, byteCount >= usable / 4 || usable <= 64,
            alignment > 0, alignment & (alignment - 1) == 0,
            Int(bitPattern: pointer) & (alignment - 1) == 0
        {
            return pointer
        }
        let fresh = try allocate(byteCount: byteCount, alignment: alignment)
        fresh.copyMemory(from: pointer, byteCount: min(usable, max(byteCount, 0)))
        do {
            try deallocate(pointer)
        } catch {
            try? deallocate(fresh)
            throw error
        }
        return fresh
    }

    // MARK: - Release

    /// Returns all free memory now: the calling thread's empty pages, empty abandoned pages,
    /// committed free pages, cached segments and cached huge blocks.
    public func trim() { core.trim() }

    /// Applies the segment-cache bounds (count, bytes, age) now; the heap also applies them
    /// whenever a segment empties.
    public func releaseExpiredSegments() { core.releaseExpired() }
}
