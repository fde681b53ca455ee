import COffHeapShims
import Synchronization

/// A Hyaline safe-memory-reclamation domain (Nikolaev & Ravindran, PLDI 2021), in the
/// Hyaline-1S form: one single-width head per slot, birth/access eras for robustness.
///
/// ```swift
/// let domain = try HyalineDomain()
/// let nodes = try domain.register(HyalinePoolReclaimer(pool, capacity: 1024))
/// do {
///     let guardian = try domain.enter()
///     let top = guardian.protect(stackTop)        // era-checked load of a shared link
///     // … unlink `top` with a CAS …
///     try guardian.retire(node, birthEra: birth, reclaimer: nodes)
/// }                                               // guardian ends: leave
/// ```
///
/// ## Design
/// Hyaline-1S: each reader thread leases a sticky slot whose single-width head lists the
/// retire records inserted while it was inside; whoever brings a batch's reference count
/// to zero frees it, and birth/access eras bound what a stalled reader can pin. Records are
/// indices, never tagged pointers. Invariants: <doc:SafeMemoryReclamationWithHyaline>.
public final class HyalineDomain: @unchecked Sendable {
    // Hot-path map (grep the names):
    //   enter() → enter(retaining:)                                    HyalineGuard.swift
    //     → sticky: ThreadLocalSlot.hyaline → HyalineThreadTable.entry → publish(slot:entry:retaining:)
    //     → else enterSlow(retaining:) → leaseSlot() (owner CAS) → raiseHighWater(to:) → publish
    //     publish: head store 0 (seq_cst), load `destroyed`
    //   HyalineGuard.protect(_:)   load link, load era, raise access era (seq_cst)
    //   HyalineGuard.retire(_:birthEra:reclaimer:) → retire(_:birthEra:reclaimer:slot:cache:)
    //     → allocateRecord(_:)  private list | free-stack CAS | recordBump  HyalineDomain+Retire.swift
    //     → sticky: private chunk → publishChunk(slot:cache:) → push(_:last:count:slot:cache:)
    //     → push: stripe CAS; full → detach CAS → flush(_:count:stripe:cache:)
    //         flush: pad to k + 1 → era add → insert into active slots (CAS) → refs add
    //   leave(slot:entry:) (guard end)                                 HyalineGuard.swift
    //     → publishChunk → head CAS 0 → inactive
    //     → list attached: leaveDetaching → traverse → refs − 1 → freeBatch(_:cache:)
    //         freeBatch → reclaimer.reclaim → records to private list | pushFreeChain

    // @unchecked Sendable: all shared state is in the off-heap region and accessed only
    // through atomics following the invariants of SafeMemoryReclamationWithHyaline.md (the
    // DocC article in OffHeap.docc); the stored properties are immutable
    // after init except the controller thread handle (only touched by init/destroy/deinit).

    /// Sizes and policies of a domain.
    public struct Configuration: Sendable {
        /// Reader slots: live threads that have entered the domain (each keeps a sticky
        /// slot until it exits) plus nested guards. `enter` beyond it throws
        /// ``OffHeapError/readerSlotsExhausted(maximumReaders:)``.
        public var maximumReaders: Int
        /// Retire records (nodes retired and not yet reclaimed, plus padding).
        public var recordCapacity: Int
        /// Batch size used until the controller adjusts it (raised to k + 1 if smaller).
        public var batchThreshold: Int
        /// Pending-stack stripes (power of two).
        public var stripes: Int
        /// The adaptive threshold controller, or `nil` for a fixed threshold.
        public var controller: HyalineThresholdController.Configuration?
        /// Hyaline-S era step: each thread advances the global era once per this many of
        /// its ``HyalineDomain/birthEra()`` calls (1 ..< 2^20). A stalled reader pins at most
        /// `threads × eraFrequency` nodes born after it stalled (and their batches).
        public var eraFrequency: Int

        /// Creates a configuration; every parameter sets the property of the same name.
        public init(
            maximumReaders: Int = 64, recordCapacity: Int = 1 << 18, batchThreshold: Int = 64,
            stripes: Int = 8, controller: HyalineThresholdController.Configuration? = nil,
            eraFrequency: Int = 64
        ) {
            self.maximumReaders = maximumReaders
            self.recordCapacity = recordCapacity
            self.batchThreshold = batchThreshold
            self.stripes = stripes
            self.controller = controller
            self.eraFrequency = eraFrequency
        }
    }

    /// Counters, read without stopping the domain (approximate under concurrency).
    public struct Statistics: Sendable, Equatable {
        /// Nodes retired so far.
        public var retired: UInt64
        /// Nodes reclaimed (handed to their reclaimer) so far.
        public var reclaimed: UInt64
        /// Batches flushed into the slots.
        public var batches: UInt64
        /// Dummy records added to reach k + 1.
        public var padding: UInt64
        /// Guards that ended on another thread than the one that entered (a misuse: see
        /// ``HyalineGuard``); each left its slot safely.
        public var misplacedLeaves: UInt64 = 0
        /// Retired and not yet reclaimed.
        public var unreclaimed: UInt64 { retired > reclaimed ? retired - reclaimed : 0 }
    }

    /// The sizes and policies the domain was created with.
    public let configuration: Configuration
    @usableFromInline internal let region: OwnedRegion
    @usableFromInline internal let header: UnsafeMutableRawPointer
    @usableFromInline internal let slots: UnsafeMutableRawPointer
    @usableFromInline internal let records: UnsafeMutableRawPointer
    @usableFromInline internal let maximumReaders: Int
    @usableFromInline internal let recordCapacity: Int
    @usableFromInline internal let stripeMask: Int
    /// Free records a thread keeps in its private list (taken without a CAS by its retires).
    @usableFromInline internal let privateRecordLimit: Int
    /// This domain's ``HyalineRuntime`` row (−1: none, every guard leases a slot) and the
    /// row's generation, which stamps the threads' sticky entries.
    @usableFromInline internal let registryRow: Int
    @usableFromInline internal let registryGeneration: UInt64
    /// ``Configuration/eraFrequency``.
    @usableFromInline internal let eraFrequency: UInt64
    internal var controllerThread: PlatformThread?
    internal let controllerState: HyalineThresholdController?

    /// Creates a domain; its bookkeeping is one mmap region (never malloc).
    ///
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)`` for out-of-range sizes,
    ///   ``OffHeapError/mappingFailed(errno:)``, ``OffHeapError/threadStartFailed(errno:)``.
    public convenience init(configuration: Configuration = .init()) throws(OffHeapError) {
        try self.init(configuration, startThread: { body throws(OffHeapError) in
            try PlatformThread(body)
        })
    }

    /// The designated init; `startThread` starts the controller thread (tests pass one that
    /// fails, to exercise the error path after every stored property is set).
    internal init(
        _ configuration: Configuration,
        startThread: (@escaping @Sendable () -> Void) throws(OffHeapError) -> PlatformThread
    ) throws(OffHeapError) {
        guard configuration.maximumReaders >= 1, configuration.maximumReaders <= 4096 else {
            throw .invalidConfiguration(reason: "maximumReaders must be in 1...4096")
        }
        guard configuration.recordCapacity >= 2 * (configuration.maximumReaders + 1),
            configuration.recordCapacity < 1 << 31
        else {
            throw .invalidConfiguration(
                reason: "recordCapacity must be in 2 * (maximumReaders + 1) ..< 2^31")
        }
        guard configuration.batchThreshold >= 1, configuration.batchThreshold < 1 << 20 else {
            throw .invalidConfiguration(reason: "batchThreshold must be in 1 ..< 2^20")
        }
        let stripes = configuration.stripes
        guard stripes >= 1, stripes <= Layout.maxStripes, stripes & (stripes - 1) == 0 else {
            throw .invalidConfiguration(reason: "stripes must be a power of two in 1...16")
        }
        guard configuration.eraFrequency >= 1, configuration.eraFrequency < 1 << 20 else {
            throw .invalidConfiguration(reason: "eraFrequency must be in 1 ..< 2^20")
        }
        if let controller = configuration.controller { try controller.validate() }
        self.configuration = configuration
        eraFrequency = UInt64(configuration.eraFrequency)
        maximumReaders = configuration.maximumReaders
        recordCapacity = configuration.recordCapacity
        stripeMask = stripes - 1
        privateRecordLimit = min(256, recordCapacity / (4 * maximumReaders))
        let slotBytes = maximumReaders * Layout.line
        let total = Layout.headerBytes + slotBytes + recordCapacity * Layout.line
        region = try OwnedRegion(byteCount: total, committed: true)
        header = region.base
        slots = region.base + Layout.headerBytes
        records = slots + slotBytes
        for offset in stride(from: 0, to: Layout.headerBytes, by: 8) {
            Self.word(header, offset).initialize(to: Atomic(0))
        }
        for slot in 0..<maximumReaders {
            let line = slots + slot * Layout.line
            for word in 0..<8 { Self.word(line, word * 8).initialize(to: Atomic(0)) }
            Self.word(line, Layout.slotHead).pointee.store(Layout.inactive, ordering: .relaxed)
        }
        Self.word(region.base, Layout.threshold).pointee.store(
            UInt64(configuration.batchThreshold), ordering: .relaxed)
        Self.word(region.base, Layout.era).pointee.store(1, ordering: .relaxed)
        if let claimed = HyalineRuntime.shared?.claim(
            header: header, slots: slots, records: records)
        {
            registryRow = claimed.row
            registryGeneration = claimed.generation
        } else {
            registryRow = -1
            registryGeneration = 0
        }
        if let controller = configuration.controller {
            let state = HyalineThresholdController(controller)
            controllerState = state
            // Unretained: the thread must not keep the domain alive (deinit stops it), and it
            // need not, since deinit and destroy join it before tearing anything down.
            let domain = Unmanaged.passUnretained(self)
            // No cleanup here: every stored property is set, so a throw runs `deinit`, which
            // retires the row and unmaps the region (doing it here too did both twice).
            controllerThread = try startThread { state.run(domain: domain) }
        } else {
            controllerState = nil
        }
    }

    deinit {
        stopController()
        // Reclaim what is still pending; no guard is alive (each guard holds a reference).
        if word(Layout.destroyed).pointee.load(ordering: .acquiring) == 0 {
            reclaimEverything()
        }
        releaseReclaimers()
        // No exiting thread may touch the slots (giving its sticky slot back) after this.
        if registryRow >= 0 {
            HyalineRuntime.shared?.retire(registryRow, generation: registryGeneration)
        }
        // `region` unmaps itself (OwnedRegion), after the row is retired above.
    }

    /// Destroys the domain: new `enter`s and `register`s throw ``OffHeapError/destroyed``,
    /// the controller thread stops, readers still inside are waited for, and every pending
    /// node is reclaimed. The memory stays mapped until the last reference goes away, so a
    /// late call fails with a typed error instead of touching freed memory.
    ///
    /// - Throws: ``OffHeapError/destroyed`` when already destroyed;
    ///   ``OffHeapError/destroyInsideDomain`` when the calling thread is inside this domain
    ///   (holds a guard or runs a reclaimer from a leave), which would wait for itself.
    public func destroy() throws(OffHeapError) {
        // A slot the caller leased (owner word = its thread id) whose head is not `inactive`
        // is the caller inside. Only the caller changes its own slots, so this cannot race.
        let me = offheap_thread_self()
        for slot in 0..<maximumReaders
        where slotWord(slot, Layout.slotOwner).pointee.load(ordering: .relaxed) == me
            && slotWord(slot, Layout.slotHead).pointee.load(ordering: .relaxed) != Layout.inactive
        {
            throw .destroyInsideDomain
        }
        // Litmus: store buffering (SB) with publish(): W destroyed; R head here vs W head; R
        // destroyed there. seq_cst forbids both reading the old value (a reader entering unseen by
        // destroy).
        let (exchanged, _) = word(Layout.destroyed).pointee.compareExchange(
            expected: 0, desired: 1, ordering: .sequentiallyConsistent)
        guard exchanged else { throw .destroyed }
        stopController()
        // Wait for readers: an enter that raced with the flag sees it after publishing its
        // head (both sides sequentially consistent) and backs out with a full leave. Two
        // passes: such an enter may publish a slot the first pass already checked while a
        // retirer still inside inserts a batch record there; its back-out then frees that
        // batch (calls reclaimers). Every such publication happened before the last retirer
        // left, hence before the first pass ended, so the second pass waits for it; heads
        // published after that receive nothing (no one is left to flush).
        for _ in 0..<2 {
            for slot in 0..<maximumReaders {
                let head = slotWord(slot, Layout.slotHead)
                // Litmus: SB, the load half of the pair above (W destroyed -> R head).
                while head.pointee.load(ordering: .sequentiallyConsistent) != Layout.inactive {
                    PlatformThread.yield()
                }
            }
        }
        reclaimEverything()
    }

    /// Whether ``destroy()`` was called.
    public var isDestroyed: Bool {
        word(Layout.destroyed).pointee.load(ordering: .acquiring) != 0
    }

    /// Registers where retired nodes go; returns the id to pass to `retire`. Up to 64
    /// reclaimers per domain. The domain keeps `reclaimer` alive until it is deinitialised.
    public func register(_ reclaimer: HyalineReclaimer) throws(OffHeapError)
        -> HyalineReclaimerID
    {
        guard !isDestroyed else { throw .destroyed }
        let index = word(Layout.reclaimerCount).pointee.add(1, ordering: .relaxed).oldValue
        guard index < UInt64(Layout.maxReclaimers) else {
            word(Layout.reclaimerCount).pointee.subtract(1, ordering: .relaxed)
            throw .invalidConfiguration(reason: "more than 64 reclaimers in one domain")
        }
        let bits = UInt64(UInt(bitPattern: Unmanaged.passRetained(reclaimer).toOpaque()))
        word(Layout.reclaimers + Int(index) * 8).pointee.store(bits, ordering: .releasing)
        return HyalineReclaimerID(rawValue: UInt32(index))
    }

    /// The birth era for a node being allocated now: call it once per allocation, store the
    /// result with the node and pass it to `retire`.
    ///
    /// Hyaline-S as in the reference implementation (and IBR): allocations advance the
    /// global era, each thread once per ``Configuration/eraFrequency`` of its calls, so a
    /// reader that stalls with access era `e` sees at most `threads × eraFrequency` nodes
    /// born in `e` after it, however few nodes are retired. The count lives in the thread's
    /// table entry for this domain (a plain store; a thread that has never entered the
    /// domain counts on a shared word instead), so the era word takes one atomic add per
    /// `eraFrequency` allocations of a thread.
    ///
    /// ```swift
    /// let node = try pool.allocate()
    /// let birth = domain.birthEra()
    /// // … publish, later unlink …
    /// try guardian.retire(node, birthEra: birth, reclaimer: id)
    /// ```
    @inlinable
    public func birthEra() -> UInt64 {
        if registryRow >= 0, let raw = ThreadLocalSlot.hyaline.value {
            let entry = HyalineThreadTable(raw).entry(registryRow)
            if entry[HyalineThreadTable.generation] == registryGeneration {
                let left = entry[HyalineThreadTable.allocationsLeft]
                if left > 1 {
                    entry[HyalineThreadTable.allocationsLeft] = left &- 1
                } else {
                    entry[HyalineThreadTable.allocationsLeft] = eraFrequency
                    advanceEra()
                }
                return currentEra
            }
        }
        return birthEraShared()
    }

    /// ``birthEra()`` for a thread without a table entry for this domain.
    @usableFromInline
    internal func birthEraShared() -> UInt64 {
        let count = word(Layout.allocations).pointee.add(1, ordering: .relaxed).newValue
        if count % eraFrequency == 0 { advanceEra() }
        return currentEra
    }

    @usableFromInline
    internal func advanceEra() {
        word(Layout.era).pointee.add(1, ordering: .sequentiallyConsistent)
    }

    /// The era new nodes are born in: store it in the node (or keep it next to it) when the
    /// node is allocated, and pass it to `retire`.
    @inlinable
    public var currentEra: UInt64 {
        // Litmus: message passing (MP): read before the node is published, so a reader that sees
        // the node (protect) then reads an era >= this birth era; retire compares the two.
        word(Layout.era).pointee.load(ordering: .sequentiallyConsistent)
    }

    /// The batch size at which retirers flush (never below k + 1).
    public var batchThreshold: Int {
        Int(word(Layout.threshold).pointee.load(ordering: .relaxed))
    }

    /// Sets the batch threshold (the controller does this; clamped to `1...2^20`).
    package func setBatchThreshold(_ value: Int) {
        word(Layout.threshold).pointee.store(
            UInt64(min(max(value, 1), 1 << 20)), ordering: .relaxed)
    }

    /// Slots ever leased (k); batches hold at least k + 1 records.
    package var readerHighWater: Int {
        // Litmus: SB with a reader: W highWater (lease); W head; R link vs the retirer's W link
        // (unlink); R highWater here. seq_cst: the retirer cannot miss a slot whose reader still
        // saw the node.
        Int(word(Layout.highWater).pointee.load(ordering: .sequentiallyConsistent))
    }

    /// Counters for tests, benchmarks and the controller.
    public var statistics: Statistics {
        // retired = the sum of the slots' retire counters. Reclaimed first: a node was
        // counted in its slot (release) before its record was published, so this order
        // never shows more reclaimed than retired nodes.
        let reclaimed = word(Layout.reclaimed).pointee.load(ordering: .acquiring)
        var retired: UInt64 = 0
        for slot in 0..<maximumReaders {
            retired &+= slotWord(slot, Layout.slotRetired).pointee.load(ordering: .acquiring)
        }
        return Statistics(
            retired: retired,
            reclaimed: reclaimed,
            batches: word(Layout.batches).pointee.load(ordering: .relaxed),
            padding: word(Layout.padding).pointee.load(ordering: .relaxed),
            misplacedLeaves: word(Layout.misplacedLeaves).pointee.load(ordering: .relaxed))
    }

    /// Stops and joins the PI controller thread, if any (idempotent; `destroy` calls it). A
    /// caller that needs a quiescent domain (every retired node reclaimable by its own
    /// `reclaimPending()`) stops it first: the controller's forced flushes enter the domain.
    package func stopController() {
        guard let thread = controllerThread, let state = controllerState else { return }
        state.stop()
        thread.join()
        controllerThread = nil
    }

    internal func releaseReclaimers() {
        let count = min(
            Int(word(Layout.reclaimerCount).pointee.load(ordering: .acquiring)),
            Layout.maxReclaimers)
        for index in 0..<count {
            let bits = word(Layout.reclaimers + index * 8).pointee.exchange(
                0, ordering: .acquiringAndReleasing)
            if bits != 0, let raw = UnsafeMutableRawPointer(bitPattern: UInt(bits)) {
                Unmanaged<HyalineReclaimer>.fromOpaque(raw).release()
            }
        }
    }
}

// MARK: - Layout

extension HyalineDomain {
    /// Byte offsets inside the domain's region. Every contended word has its own line.
    @usableFromInline
    internal enum Layout {
        @usableFromInline static let line = 64
        @usableFromInline static let maxStripes = 16
        @usableFromInline static let maxReclaimers = 64
        // Header lines.
        @usableFromInline static let era = 0 * 64
        @usableFromInline static let destroyed = 1 * 64
        @usableFromInline static let highWater = 2 * 64
        @usableFromInline static let threshold = 3 * 64
        @usableFromInline static let recordFree = 4 * 64
        @usableFromInline static let recordBump = 5 * 64
        @usableFromInline static let slotHint = 6 * 64
        @usableFromInline static let reclaimed = 7 * 64
        @usableFromInline static let reclaimerCount = 8 * 64
        @usableFromInline static let batches = 9 * 64
        @usableFromInline static let padding = 10 * 64
        /// ``HyalineDomain/birthEra()`` calls of threads without a table entry.
        @usableFromInline static let allocations = 11 * 64
        @usableFromInline static let misplacedLeaves = 12 * 64
        @usableFromInline static let stripesBase = 16 * 64
        @usableFromInline static let reclaimers = stripesBase + maxStripes * 64
        @usableFromInline static let headerBytes = 4096
        // Stripe line words.
        @usableFromInline static let stripeHead = 0
        // Slot line words.
        @usableFromInline static let slotHead = 0
        @usableFromInline static let slotAccess = 8
        @usableFromInline static let slotOwner = 16
        /// Nodes retired through this slot (single writer: the slot's current user).
        @usableFromInline static let slotRetired = 24
        /// A retire record reserved by a guard that leased the slot for itself (0: none;
        /// single writer: the slot's current user; empty whenever the slot is not leased
        /// per guard).
        @usableFromInline static let slotReserved = 32
        // Record words.
        @usableFromInline static let recordSlotNext = 0
        @usableFromInline static let recordBatch = 8
        @usableFromInline static let recordRefs = 16
        @usableFromInline static let recordPointer = 24
        @usableFromInline static let recordBirth = 32
        @usableFromInline static let recordReclaimer = 40
        @usableFromInline static let recordBatchNext = 48
        @usableFromInline static let recordFreeNext = 56
        /// Slot head of a slot without an active reader.
        @usableFromInline static let inactive = UInt64.max
        /// Slot head while its reader traverses the list it detached at leave.
        @usableFromInline static let leaving = UInt64.max - 1
    }

    @inlinable @inline(__always)
    internal static func word(
        _ base: UnsafeMutableRawPointer, _ offset: Int
    ) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inlinable @inline(__always)
    internal func word(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        Self.word(header, offset)
    }

    @inlinable @inline(__always)
    internal func slotWord(_ slot: Int, _ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        Self.word(slots + slot &* Layout.line, offset)
    }

    @inlinable @inline(__always)
    internal func stripeWord(
        _ stripe: Int, _ offset: Int
    ) -> UnsafeMutablePointer<Atomic<UInt64>> {
        Self.word(header + Layout.stripesBase + stripe &* Layout.line, offset)
    }

    /// Word `offset` of record `ref` (`index + 1`, never 0).
    @inlinable @inline(__always)
    internal func recordWord(_ ref: UInt64, _ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        assert(ref >= 1 && ref <= UInt64(recordCapacity), "a retire record reference out of range")
        return Self.word(records + Int(truncatingIfNeeded: ref &- 1) &* Layout.line, offset)
    }
}
