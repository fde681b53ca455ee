import COffHeapShims
import Synchronization

/// Proof that the calling thread is inside a ``HyalineDomain``: while it lives, nodes the
/// thread loaded with ``protect(_:)`` are not reclaimed.
///
/// The guard is `~Copyable`: it cannot be duplicated, and its end — ``leave()`` (consuming)
/// or the end of its scope (deinit) — leaves the domain exactly once. A missing or double
/// leave does not compile. It keeps its domain alive and must stay on the thread that
/// entered: it is not `Sendable`, ``HyalineDomain/enter()`` is `noasync` (a guard held
/// across `await` could end on another thread), and a guard that ends on another thread
/// anyway is detected at leave: it leaves its slot without touching the entering thread's
/// table (see ``HyalineDomain/Statistics/misplacedLeaves``).
///
/// ```swift
/// let guardian = try domain.enter()
/// let top = guardian.protect(headLink)
/// // … read the node at `top` …
/// guardian.leave()                // or just let it go out of scope
/// ```
public struct HyalineGuard: ~Copyable {
    /// The domain, retained by the guard when entered through the public ``HyalineDomain/enter()``:
    /// Swift may end the caller's own reference at its last use, before the guard's deinit
    /// runs, so the guard keeps the domain alive itself. The structures, which own their
    /// domain for as long as any of their methods runs, enter without the retain (two
    /// fewer contended read-modify-writes on the domain's reference count per operation).
    @usableFromInline internal let owner: Unmanaged<HyalineDomain>
    @usableFromInline internal let retained: Bool
    /// The slot: the thread's sticky slot (`entry` names its table entry) or, for a
    /// nested guard or a domain without a runtime row, a slot leased for this guard only.
    @usableFromInline internal let slot: Int
    @usableFromInline internal let entry: UnsafeMutablePointer<UInt64>?
    /// The slot's line (access era) and the domain's header (global era), for `protect`.
    @usableFromInline internal let slotLine: UnsafeMutableRawPointer
    @usableFromInline internal let header: UnsafeMutableRawPointer
    /// The entering thread (`offheap_thread_self`), checked at leave.
    @usableFromInline internal let thread: UInt64

    @inlinable
    internal init(
        domain: HyalineDomain, slot: Int, entry: UnsafeMutablePointer<UInt64>?, retained: Bool
    ) {
        owner = retained ? Unmanaged.passRetained(domain) : Unmanaged.passUnretained(domain)
        self.retained = retained
        self.slot = slot
        self.entry = entry
        slotLine = domain.slots + slot &* HyalineDomain.Layout.line
        header = domain.header
        thread = offheap_thread_self()
    }

    deinit {
        let slot = slot
        let entry = entry
        if _fastPath(offheap_thread_self() == thread) {
            owner._withUnsafeGuaranteedRef { $0.leave(slot: slot, entry: entry) }
        } else {
            owner._withUnsafeGuaranteedRef { $0.leaveMisplaced(slot: slot, sticky: entry != nil) }
        }
        if retained { owner.release() }
    }

    /// The reader slot this guard uses (for diagnostics).
    @inlinable public var slotIndex: Int { slot }

    /// Leaves the domain now (the same as letting the guard go out of scope).
    @inlinable
    public consuming func leave() {}

    /// Loads a shared link (a word holding a pointer's bit pattern or an index) so that the
    /// node it names stays allocated until this guard ends.
    ///
    /// Hyaline-S: before returning, the slot's access era is raised to the global era seen
    /// *after* the load, so every retire batch that might contain the node is inserted into
    /// this slot. Every load of a link that a concurrent thread may unlink and retire must go
    /// through `protect`.
    @inlinable
    public func protect(_ link: UnsafeMutablePointer<Atomic<UInt64>>) -> UInt64 {
        let access = HyalineDomain.word(slotLine, HyalineDomain.Layout.slotAccess)
        let era = HyalineDomain.word(header, HyalineDomain.Layout.era)
        var published = access.pointee.load(ordering: .relaxed)
        while true {
            // Litmus: SB with retire: W access (below, previous turn); R link here vs the retirer's
            // W link (unlink); W era++; R access. seq_cst forbids the reader keeping a node whose
            // retirer read an access era older than the one stored here.
            let value = link.pointee.load(ordering: .sequentiallyConsistent)
            // Litmus: SB (same pair, read side): seq_cst keeps this R era after the R link, so an
            // unchanged era proves that no retire scan of this slot missed the node.
            let current = era.pointee.load(ordering: .sequentiallyConsistent)
            if current <= published { return value }
            // Litmus: SB, the store half: W access before the next R link (store->load is the one
            // reordering even x86 TSO allows; seq_cst is what forbids it, on x86 and on Arm).
            access.pointee.store(current, ordering: .sequentiallyConsistent)
            published = current
        }
    }

    /// Hands `pointer` to the domain: it is passed to the reclaimer `reclaimer` once no
    /// reader can still hold it. Call it after the node was unlinked (no new reader can
    /// reach it), exactly once per node.
    ///
    /// - Parameters:
    ///   - pointer: the unlinked node.
    ///   - birthEra: ``HyalineDomain/birthEra()`` called when the node was allocated (before
    ///     it was published). Passing 0 is safe but makes the node wait for every reader,
    ///     including stalled ones.
    ///   - reclaimer: the id ``HyalineDomain/register(_:)`` returned for the node's pool.
    /// - Throws: ``OffHeapError/foreignPointer`` when the reclaimer does not own `pointer`;
    ///   ``OffHeapError/doubleFree`` when a tracking reclaimer (see
    ///   ``HyalineReclaimer/willRetire(_:)``) says it is retired already;
    ///   ``OffHeapError/invalidConfiguration(reason:)`` for an unknown reclaimer;
    ///   ``OffHeapError/retireRecordsExhausted(recordCapacity:)`` when the domain has no free retire record. On error the
    ///   node is not retired and the domain is unchanged.
    @inlinable
    public func retire(
        _ pointer: UnsafeMutableRawPointer, birthEra: UInt64, reclaimer: HyalineReclaimerID
    ) throws(OffHeapError) {
        let slot = slot
        let entry = entry
        var failure: OffHeapError?
        owner._withUnsafeGuaranteedRef { domain in
            do throws(OffHeapError) {
                try domain.retire(
                    pointer, birthEra: birthEra, reclaimer: reclaimer, slot: slot, cache: entry)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Reserves a retire record for this guard's next ``retire(_:birthEra:reclaimer:)``, so
    /// that it cannot fail with ``OffHeapError/retireRecordsExhausted(recordCapacity:)``:
    /// call it *before* unlinking a node, so running out is reported while nothing has
    /// changed yet. The thread's own guard reserves in its private record list; a nested
    /// guard, or any guard of a domain without a runtime row (more than 256 live domains),
    /// reserves one record in its slot, and gives it back at leave if unused.
    ///
    /// - Throws: ``OffHeapError/retireRecordsExhausted(recordCapacity:)``.
    @inlinable
    public func reserveRetire() throws(OffHeapError) {
        let entry = entry
        let slot = slot
        var failure: OffHeapError?
        owner._withUnsafeGuaranteedRef { domain in
            do throws(OffHeapError) { try domain.reserveRecord(slot: slot, cache: entry) } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Flushes every pending retire stripe now, padding short batches with dummy records,
    /// so that nodes become reclaimable as soon as current readers leave.
    public func flushPending() {
        let entry = entry
        let slot = slot
        owner._withUnsafeGuaranteedRef { domain in
            if let entry { domain.publishChunk(slot: slot, cache: entry) }
            domain.flushAllStripes(cache: entry)
        }
    }
}

extension HyalineDomain {
    /// Enters the domain; the returned guard leaves when it ends.
    ///
    /// Cost: on a thread that already holds a sticky slot in this domain and is not inside
    /// it yet, two plain loads of the thread's table, one sequentially consistent store of
    /// the slot head (one `xchg` on x86-64) and a retain of the domain (released when the
    /// guard ends). `withGuard(_:)` needs no retain. A thread's first enter leases its
    /// sticky slot (a CAS); a nested enter leases a further slot for that guard only.
    ///
    /// - Throws: ``OffHeapError/destroyed`` after ``destroy()``; ``OffHeapError/readerSlotsExhausted(maximumReaders:)``
    ///   when every slot is leased (by live threads that entered, or by nested guards).
    @inlinable
    @available(
        *, noasync, message: "a guard held across await can end on another thread; use withGuard")
    public func enter() throws(OffHeapError) -> HyalineGuard {
        try enter(retaining: true)
    }

    /// Runs `body` inside the domain and leaves when it returns. The domain is borrowed for
    /// the call, so unlike ``enter()`` no retain or release of the domain is paid.
    ///
    /// ```swift
    /// let value = try domain.withGuard { guardian in
    ///     let node = guardian.protect(link)
    ///     return readValue(at: node)
    /// }
    /// ```
    ///
    /// - Throws: as ``enter()``, and whatever `body` throws.
    @inlinable
    public func withGuard<Result>(
        _ body: (borrowing HyalineGuard) throws(OffHeapError) -> Result
    ) throws(OffHeapError) -> Result {
        let guardian = try enter(retaining: false)
        return try body(guardian)
    }

    #if !hasFeature(Embedded)
    /// Runs `body` inside the domain, as the typed `withGuard(_:)` above does,
    /// for a body of any error type: a closure that calls `try` without spelling its
    /// thrown type (Swift infers `any Error` for it) compiles without an annotation.
    ///
    /// ```swift
    /// try domain.withGuard { guardian in
    ///     try guardian.retire(node, birthEra: era, reclaimer: id)
    /// }
    /// ```
    ///
    /// A body that throws nothing or `OffHeapError` picks the typed overload. Hosted only:
    /// Embedded Swift has no untyped `throws`, so there the closure names its error type.
    ///
    /// - Throws: as ``enter()`` (an ``OffHeapError``), and whatever `body` throws.
    @inlinable
    public func withGuard<Result, Failure: Error>(
        _ body: (borrowing HyalineGuard) throws(Failure) -> Result
    ) throws -> Result {
        let guardian = try enter(retaining: false)
        return try body(guardian)
    }
    #endif

    /// Enter without retaining the domain: only for callers that keep the domain alive
    /// until the guard ends (the structures, from inside their own methods).
    @inlinable
    internal func enter(retaining: Bool) throws(OffHeapError) -> HyalineGuard {
        if registryRow >= 0, let raw = ThreadLocalSlot.hyaline.value {
            let entry = HyalineThreadTable(raw).entry(registryRow)
            if entry[HyalineThreadTable.generation] == registryGeneration,
                entry[HyalineThreadTable.active] == 0
            {
                entry[HyalineThreadTable.active] = 1
                let slot = Int(truncatingIfNeeded: entry[HyalineThreadTable.slot])
                return try publish(slot: slot, entry: entry, retaining: retaining)
            }
        }
        return try enterSlow(retaining: retaining)
    }

    /// A first enter on this thread (leases the sticky slot), a nested enter (leases a slot
    /// for this guard), or a domain without a runtime row (likewise).
    @usableFromInline
    internal func enterSlow(retaining: Bool) throws(OffHeapError) -> HyalineGuard {
        if isDestroyed { throw .destroyed }
        if registryRow >= 0, let table = HyalineRuntime.shared?.callingThreadTable() {
            let entry = table.entry(registryRow)
            if entry[HyalineThreadTable.generation] != registryGeneration {
                // None yet, or a stale entry of a dead domain that had this row.
                let slot = try leaseSlot()
                entry[HyalineThreadTable.slot] = UInt64(slot)
                entry[HyalineThreadTable.active] = 0
                entry[HyalineThreadTable.freeHead] = 0  // a dead domain's records
                entry[HyalineThreadTable.freeCount] = 0
                entry[HyalineThreadTable.chunkHead] = 0
                entry[HyalineThreadTable.chunkCount] = 0
                entry[HyalineThreadTable.chunkTail] = 0
                entry[HyalineThreadTable.generation] = registryGeneration
            }
            if entry[HyalineThreadTable.active] == 0 {
                entry[HyalineThreadTable.active] = 1
                let slot = Int(truncatingIfNeeded: entry[HyalineThreadTable.slot])
                return try publish(slot: slot, entry: entry, retaining: retaining)
            }
            // Marked active but its head is `inactive`: the sticky guard ended on another
            // thread (`leaveMisplaced`), which may not write this table. Take it back; a
            // chunk it left here is published at this guard's leave. (On this thread the
            // flag is cleared right after the head becomes `inactive`, with no user code
            // between, so a guard of ours that is still alive never looks like this.)
            let slot = Int(truncatingIfNeeded: entry[HyalineThreadTable.slot])
            if slotWord(slot, Layout.slotHead).pointee.load(ordering: .acquiring)
                == Layout.inactive
            {
                return try publish(slot: slot, entry: entry, retaining: retaining)
            }
        }
        return try publish(slot: leaseSlot(), entry: nil, retaining: retaining)
    }

    /// Makes `slot` active (Hyaline's enter) and checks for a racing destroy.
    @inlinable @inline(__always)
    internal func publish(
        slot: Int, entry: UnsafeMutablePointer<UInt64>?, retaining: Bool
    ) throws(OffHeapError) -> HyalineGuard {
        assert(slot >= 0 && slot < maximumReaders, "a reader slot outside 0 ..< maximumReaders")
        // Sequentially consistent: ordered before this reader's later loads of shared links
        // (the store→load pattern against a retirer's unlink-then-scan).
        // Litmus: SB twice: W head; R destroyed (vs destroy: W destroyed; R head) and W head; R
        // link (vs retire: W link = unlink; R head). seq_cst forbids both sides reading the old
        // value.
        slotWord(slot, Layout.slotHead).pointee.store(0, ordering: .sequentiallyConsistent)
        // Litmus: SB, the load half against destroy() (see the store above).
        if word(Layout.destroyed).pointee.load(ordering: .sequentiallyConsistent) != 0 {
            // Back out with a full leave: once the head was published, a retirer still
            // inside (destroy waits for it) may have inserted a batch record here; storing
            // `inactive` over it would lose that reference and the batch would never be freed.
            leave(slot: slot, entry: entry)
            throw .destroyed
        }
        return HyalineGuard(domain: self, slot: slot, entry: entry, retained: retaining)
    }

    /// Leases a free slot (CAS on its owner word 0 → 1), starting at a rotating hint.
    @usableFromInline
    internal func leaseSlot() throws(OffHeapError) -> Int {
        let hint = Int(truncatingIfNeeded: word(Layout.slotHint).pointee.add(
            1, ordering: .relaxed).oldValue)
        var slot = hint % maximumReaders
        for _ in 0..<maximumReaders {
            // Slot ownership: an RMW (atomicity alone excludes two owners); ordered before the
            // highWater raise and the head store so the SB pairs below see a leased slot. Not
            // weakened.
            // The owner word holds the leasing thread's id (never 0), so `destroy` can tell
            // the caller's own slots from other readers'.
            let (claimed, _) = slotWord(slot, Layout.slotOwner).pointee.compareExchange(
                expected: 0, desired: offheap_thread_self(), ordering: .sequentiallyConsistent)
            if claimed {
                raiseHighWater(to: slot &+ 1)
                return slot
            }
            slot = slot &+ 1 == maximumReaders ? 0 : slot &+ 1
        }
        throw .readerSlotsExhausted(maximumReaders: maximumReaders)
    }

    @usableFromInline
    internal func raiseHighWater(to count: Int) {
        let highWater = word(Layout.highWater)
        // Litmus: SB with retire (W highWater ... R link vs W link; R highWater): see
        // readerHighWater.
        var current = highWater.pointee.load(ordering: .sequentiallyConsistent)
        while current < UInt64(count) {
            let (done, seen) = highWater.pointee.compareExchange(
                expected: current, desired: UInt64(count), ordering: .sequentiallyConsistent)
            if done { return }
            current = seen
        }
    }

    /// Leave: make the slot inactive; if retirers attached records, detach them first and
    /// release one reference per record (freeing the batches that reach zero). Then the
    /// sticky slot is marked idle in the thread's table, or a per-guard lease is returned.
    @inlinable @inline(__always)
    internal func leave(slot: Int, entry: UnsafeMutablePointer<UInt64>?) {
        // Publish the private retire chunk while still inside: `destroy` collects the
        // stripes once every head is `inactive`.
        if let entry, entry[HyalineThreadTable.chunkCount] != 0 {
            publishChunk(slot: slot, cache: entry)
        }
        #if OFFHEAP_MUTANTS
            let empty = mutantLeaveEmpty(slot: slot)
        #else
            let (empty, _) = slotWord(slot, Layout.slotHead).pointee.compareExchange(
                expected: 0, desired: Layout.inactive, ordering: .acquiringAndReleasing)
        #endif
        if !empty { leaveDetaching(slot: slot, cache: entry) }
        if let entry {
            entry[HyalineThreadTable.active] = 0
        } else {
            // A per-guard lease: give an unused reserved record back before the slot.
            releaseSlotReservation(slot)
            slotWord(slot, Layout.slotOwner).pointee.store(0, ordering: .releasing)
        }
    }

    /// A guard ending on a thread other than the one that entered: leave the slot without
    /// touching the entering thread's table (its private chunk and free list stay there, its
    /// `active` flag too, which its next enter repairs). A sticky slot keeps its owner (the
    /// entering thread still holds the lease); a per-guard lease is given back.
    @usableFromInline @inline(never)
    internal func leaveMisplaced(slot: Int, sticky: Bool) {
        word(Layout.misplacedLeaves).pointee.add(1, ordering: .relaxed)
        let (empty, _) = slotWord(slot, Layout.slotHead).pointee.compareExchange(
            expected: 0, desired: Layout.inactive, ordering: .acquiringAndReleasing)
        if !empty { leaveDetaching(slot: slot, cache: nil) }
        if !sticky {
            releaseSlotReservation(slot)
            slotWord(slot, Layout.slotOwner).pointee.store(0, ordering: .releasing)
        }
    }

    /// Leave with a list attached: the head becomes `leaving` (retirers skip it) while the
    /// list is traversed, and `inactive` only afterwards, because `destroy` waits for every
    /// head to be `inactive`: it must not return while this thread is still handing nodes
    /// to their reclaimers.
    @usableFromInline
    internal func leaveDetaching(slot: Int, cache: UnsafeMutablePointer<UInt64>?) {
        let head = slotWord(slot, Layout.slotHead)
        let list = head.pointee.exchange(Layout.leaving, ordering: .acquiringAndReleasing)
        traverse(list, cache: cache)
        head.pointee.store(Layout.inactive, ordering: .releasing)
    }

    @usableFromInline
    internal func traverse(_ list: UInt64, cache: UnsafeMutablePointer<UInt64>?) {
        var current = list
        while current != 0 {
            // Read the link before the decrement: the decrement may free this batch.
            let next = recordWord(current, Layout.recordSlotNext).pointee.load(ordering: .relaxed)
            let batch = recordWord(current, Layout.recordBatch).pointee.load(ordering: .relaxed)
            let old = recordWord(batch, Layout.recordRefs).pointee.wrappingSubtract(
                1, ordering: .acquiringAndReleasing
            ).oldValue
            // Each insertion (≤ maximumReaders per batch) adds one, each detaching reader takes one:
            // the count stays within ±maximumReaders, negative only until the flush adds its total.
            assert(
                Int64(bitPattern: old).magnitude <= UInt64(maximumReaders),
                "a batch reference count out of range")
            if old == 1 { freeBatch(batch, cache: cache) }
            current = next
        }
    }
}
