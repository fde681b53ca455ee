import Synchronization

// The Treiber stack over slot indices, and the batch-by-index primitives that
// `ShardedFreeList` uses to move a whole magazine with one CAS.
//
// Orderings (see the invariant at `FreeList`):
// - pop: load head (acquire) → load link[head.index] (relaxed, ordered after the acquire)
//   → CAS head (acq_rel; failure: acquire). A stale link value can only be read if the
//   node was popped after our head load, which bumped the tag: our CAS then fails.
// - push: load head (acquire) → load link[head.index].depth (relaxed) → store the pushed
//   links (relaxed) → CAS head (release publishes the links; acquire on failure).
extension FreeList {
    /// Pops a chain of up to `maxCount` (≥ 1) free slots with ONE successful CAS.
    ///
    /// Returns the first index, how many were taken (≥ 1; fewer than `maxCount` only when
    /// the list held fewer) and the reset epoch the pop belongs to. The chain is linked
    /// through the side table: follow it with ``nextIndex(after:)`` `count - 1` times. The
    /// slots' checked-mode states are NOT changed. When the list is empty the pool grows by
    /// one slab.
    ///
    /// `visit(position, index)` is called for every node of each attempt's walk (again from
    /// position 0 when a CAS fails), so a caller can record the chain in one pass.
    ///
    /// - Throws: ``OffHeapError/capacityExhausted(capacity:)``, ``OffHeapError/mappingFailed(errno:)``,
    ///   ``OffHeapError/concurrentReset`` (nothing was taken).
    @inlinable
    internal func popChain(
        upTo maxCount: Int,
        visiting visit: (_ position: Int, _ index: UInt32) -> Void = { _, _ in }
    ) throws(OffHeapError) -> (first: UInt32, count: Int, epoch: UInt64) {
        #if OFFHEAP_MUTANTS
            var current = Head(raw: mutantHeadLoad())
        #else
            var current = Head(raw: head.pointee.load(ordering: .acquiring))
        #endif
        while true {
            let first = current.index
            if first >= Head.lockedIndex {
                if first == Head.lockedIndex { throw .concurrentReset }
                // Empty while a reset waits for the frees inside the gate (it refuses the
                // others meanwhile, so the list drains): that is the reset, not exhaustion.
                if freeGate.pointee.load(ordering: .relaxed) & FreeList.freeGateReset != 0 {
                    throw .concurrentReset
                }
                try grow()
                current = Head(raw: head.pointee.load(ordering: .acquiring))
                continue
            }
            let observedEpoch = epoch.pointee.load(ordering: .relaxed)
            var link = Link(raw: links[Int(first)].load(ordering: .relaxed))
            visit(0, first)
            var count = 1
            while count < maxCount {
                let next = link.next
                // A stale walk may meet any index ever written; the CAS below rejects it.
                guard Int(next) < geometry.capacity else { break }
                link = Link(raw: links[Int(next)].load(ordering: .relaxed))
                visit(count, next)
                count += 1
            }
            #if OFFHEAP_MUTANTS
                let (exchanged, original) = mutantPopExchange(
                    expected: current.raw, desired: current.replacing(index: link.next).raw)
            #else
                let (exchanged, original) = head.pointee.compareExchange(
                    expected: current.raw, desired: current.replacing(index: link.next).raw,
                    successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
            #endif
            if exchanged {
                if epoch.pointee.load(ordering: .relaxed) != observedEpoch {
                    // A reset rebuilt the list after our CAS: the chain is free again.
                    throw .concurrentReset
                }
                notePop(freeAfter: link.depth &- 1)
                return (first, count, observedEpoch)
            }
            casRetries.pointee.add(1, ordering: .relaxed)
            current = Head(raw: original)
        }
    }

    /// Pushes a private chain of `count` slots with ONE successful CAS.
    ///
    /// `first … last` must be linked through the side table (``setNextIndex(of:to:)``)
    /// `count - 1` times; depths and `last`'s next are written here (and rewritten on retry
    /// when the observed free count changed). `epoch` is the reset epoch the caller's slots
    /// belong to (from ``popChain(upTo:)`` or read before validating them).
    ///
    /// The caller must be inside the free gate (``enterFreeGate()``, entered before it read
    /// `epoch`), or hold `growLock`, or own a list that is never reset (`ShardedFreeList`):
    /// otherwise a whole `reset()` could run between the epoch check below and the link
    /// stores, which would then relink the rebuilt list.
    ///
    /// `linkedBelow` says the chain's depths are already written for that free count below
    /// it (a caller that linked the chain against a head it loaded); the default rewrites.
    ///
    /// - Throws: ``OffHeapError/concurrentReset`` when a reset is running or ran since
    ///   `epoch`; nothing was pushed (the reset made every slot free anyway). If this push
    ///   had already written link words when it noticed the reset, those writes may have
    ///   landed after the reset rebuilt the links: the pool is then poisoned (see
    ///   ``poisonAfterStaleLinkWrite()``) instead of left corrupted.
    @inlinable
    internal func pushChain(
        first: UInt32, last: UInt32, count: Int, epoch expectedEpoch: UInt64,
        linkedBelow alreadyLinked: UInt32 = .max
    ) throws(OffHeapError) {
        assert(
            count >= 1 && Int(first) < geometry.capacity && Int(last) < geometry.capacity,
            "a pushed chain names a slot outside the pool")
        var current = Head(raw: head.pointee.load(ordering: .acquiring))
        var linkedBelow = alreadyLinked
        var wroteLinks = alreadyLinked != .max
        while true {
            let top = current.index
            if top == Head.lockedIndex
                || epoch.pointee.load(ordering: .relaxed) != expectedEpoch
            {
                if wroteLinks { poisonAfterStaleLinkWrite() }
                throw .concurrentReset
            }
            let below =
                top == Head.emptyIndex
                ? 0 : Link(raw: links[Int(top)].load(ordering: .relaxed)).depth
            if count > 1 && below != linkedBelow {
                var node = first
                var depth = below &+ UInt32(truncatingIfNeeded: count)
                for _ in 1..<count {
                    let next = Link(raw: links[Int(node)].load(ordering: .relaxed)).next
                    links[Int(node)].store(
                        Link(next: next, depth: depth).raw, ordering: .relaxed)
                    node = next
                    depth &-= 1
                }
                linkedBelow = below
            }
            #if OFFHEAP_MUTANTS
                links[Int(last)].store(
                    Link(next: mutantLinkTarget(top), depth: below &+ 1).raw, ordering: .relaxed)
                wroteLinks = true
                let (exchanged, original) = mutantPushExchange(
                    expected: current.raw, desired: current.replacing(index: first).raw)
            #else
                links[Int(last)].store(Link(next: top, depth: below &+ 1).raw, ordering: .relaxed)
                wroteLinks = true
                let (exchanged, original) = head.pointee.compareExchange(
                    expected: current.raw, desired: current.replacing(index: first).raw,
                    successOrdering: .releasing, failureOrdering: .acquiring)
            #endif
            if exchanged { return }
            casRetries.pointee.add(1, ordering: .relaxed)
            current = Head(raw: original)
        }
    }

    /// Locks the head for good after a push found that a `reset()` overlapped its link
    /// writes: every operation then throws ``OffHeapError/concurrentReset`` until the next
    /// `reset()` rebuilds the list. (A pusher preempted between its link store and its
    /// failing CAS may overwrite a link the reset had just rebuilt; it cannot tell, so it
    /// assumes so.) A reset that is still running is waited for, then its result locked.
    ///
    /// Head ``Head/lockedIndex`` while `growLock` is not held by a reset means poisoned;
    /// while a reset runs it holds `growLock` with ``growLockHeldByReset``. (A grower holds it
    /// with 1 and pushes while holding it, so waiting on any holder would make a grower whose
    /// push met a poisoned head wait for itself forever.)
    @usableFromInline
    internal func poisonAfterStaleLinkWrite() {
        var current = Head(raw: head.pointee.load(ordering: .acquiring))
        while true {
            if current.index == Head.lockedIndex {
                if growLock.pointee.load(ordering: .acquiring) != FreeList.growLockHeldByReset {
                    // Still locked after seeing no reset running: poisoned already, or a
                    // reset started after our write and will overwrite it.
                    current = Head(raw: head.pointee.load(ordering: .acquiring))
                    if current.index == Head.lockedIndex { return }
                    continue
                }
                PlatformThread.yield()
                current = Head(raw: head.pointee.load(ordering: .acquiring))
                continue
            }
            let (exchanged, original) = head.pointee.compareExchange(
                expected: current.raw, desired: current.replacing(index: Head.lockedIndex).raw,
                ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = Head(raw: original)
        }
    }

    /// Whether a racing reset left the pool poisoned (every operation throws
    /// ``OffHeapError/concurrentReset`` until ``reset()``).
    @inlinable
    public var needsReset: Bool {
        Head(raw: head.pointee.load(ordering: .acquiring)).index == Head.lockedIndex
            && growLock.pointee.load(ordering: .acquiring) != FreeList.growLockHeldByReset
    }

    /// The free count while `top` is the head index.
    @inlinable @inline(__always)
    internal func freeCount(below top: UInt32) -> UInt32 {
        top >= Head.lockedIndex ? 0 : Link(raw: links[Int(top)].load(ordering: .relaxed)).depth
    }

    /// The next index in a chain linked through the side table.
    @inlinable @inline(__always)
    internal func nextIndex(after index: UInt32) -> UInt32 {
        Link(raw: links[Int(index)].load(ordering: .relaxed)).next
    }

    /// Links `index` to `next` in a PRIVATE chain (slots the caller owns), before
    /// ``pushChain(first:last:count:epoch:)``.
    @inlinable @inline(__always)
    internal func setNextIndex(of index: UInt32, to next: UInt32) {
        links[Int(index)].store(Link(next: next, depth: 0).raw, ordering: .relaxed)
    }

    /// The start of slot `index` (< capacity; unchecked).
    @inlinable @inline(__always)
    internal func pointer(at index: UInt32) -> UnsafeMutableRawPointer {
        base + Int(UInt(index) &* stride)
    }

    /// Records a new in-use high-water mark after a pop left `free` slots on the list.
    @inlinable @inline(__always)
    internal func notePop(freeAfter free: UInt32) {
        let total = accountedSlots.pointee.load(ordering: .relaxed)
        guard total > UInt64(free) else { return }
        let inUse = total &- UInt64(free)
        if inUse > peak.pointee.load(ordering: .relaxed) { raisePeak(to: inUse) }
    }

    @usableFromInline
    internal func raisePeak(to value: UInt64) {
        var seen = peak.pointee.load(ordering: .relaxed)
        while value > seen {
            let (exchanged, original) = peak.pointee.compareExchange(
                expected: seen, desired: value, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }

    /// Commits the next slab and publishes its slots with one batch push.
    ///
    /// Only the holder of `growLock` grows (slabs are committed strictly in address order,
    /// since a slot may straddle two slabs); a thread that loses the lock yields and lets
    /// its caller reload the head. Growing when the list is no longer empty is skipped.
    @usableFromInline
    internal func grow() throws(OffHeapError) {
        guard growLock.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring)
            .exchanged
        else {
            PlatformThread.yield()
            return
        }
        defer { growLock.pointee.store(0, ordering: .releasing) }
        let current = Head(raw: head.pointee.load(ordering: .acquiring))
        guard current.index == Head.emptyIndex else { return }
        let slabs = Int(committedSlabs.pointee.load(ordering: .relaxed))
        guard slabs < geometry.slabCount else {
            throw .capacityExhausted(capacity: geometry.capacity)
        }
        let start = slabs * geometry.slabSize
        let bytes = min(geometry.slabSize, geometry.reservedBytes - start)
        try VirtualMemory.commit(base + start, byteCount: bytes)
        Instrumentation.noAccess(base + start, byteCount: bytes)
        committedSlabs.pointee.store(UInt64(slabs + 1), ordering: .relaxed)
        let old = geometry.slots(inFirst: slabs)
        let new = geometry.slots(inFirst: slabs + 1)
        assert(old <= new && new <= geometry.capacity, "grew past the pool's capacity")
        guard new > old else { return }
        initializeSlots(old..<new)
        validSlots.pointee.store(UInt64(new), ordering: .releasing)
        linkRun(old..<new, below: Head.emptyIndex, bottomDepth: 0)
        try pushChain(
            first: UInt32(old), last: UInt32(new - 1), count: new - old,
            epoch: epoch.pointee.load(ordering: .relaxed))
        accountedSlots.pointee.store(UInt64(new), ordering: .relaxed)
    }

    /// Resets the side-table entries of never-published slots.
    ///
    /// The metadata mapping is fresh anonymous memory, so every entry already holds zero,
    /// the bit pattern of `Atomic(0)`: the tables are bound once in `init` and only ever
    /// accessed through atomic operations. A stale batch-pop walk may read a link word
    /// concurrently with these writes, hence atomic stores rather than `initialize(to:)`.
    @usableFromInline
    internal func initializeSlots(_ range: Range<Int>) {
        for index in range {
            links[index].store(0, ordering: .relaxed)
            if checked { states[index].store(0, ordering: .relaxed) }
        }
    }

    /// Links `range` as a chain in index order: the last node's next is `below`, and
    /// depths count down to `bottomDepth + 1`. Only for slots no other thread can reach.
    @usableFromInline
    internal func linkRun(_ range: Range<Int>, below: UInt32, bottomDepth: UInt32) {
        var depth = bottomDepth &+ UInt32(range.count)
        for index in range {
            let next = index + 1 == range.upperBound ? below : UInt32(index + 1)
            links[index].store(Link(next: next, depth: depth).raw, ordering: .relaxed)
            depth &-= 1
        }
    }
}
