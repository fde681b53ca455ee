import Synchronization

/// A lock-free pool of fixed-size slots: a Treiber stack of slot indices over one off-heap
/// reservation.
///
/// ```swift
/// let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 1024))
/// let p = try pool.allocate()          // 64 bytes, 8-byte aligned, off-heap
/// p.storeBytes(of: 42, as: Int.self)
/// try pool.deallocate(p)
/// try pool.deallocate(p)               // throws .doubleFree (checked mode, the default)
/// ```
///
/// Layout. Slots live in ONE reservation of `capacity * stride` bytes; slot `i` is at
/// `base + i * stride`, so ownership, interior and alignment checks are O(1) and exact.
/// Slabs (`slabSize` bytes) are only commit units, committed in address order. Allocator
/// metadata lives in a separate off-heap mapping, never inside slots, so a use-after-free
/// write cannot corrupt the list: a control block (head, epoch, counters), one link word
/// per slot (`Link`: next index | depth) and, in checked mode, one state byte per slot.
///
/// Invariant (who owns what, which ordering publishes what):
/// - `head` (`Head`: index | tag) is the only shared mutable word of the stack. A slot
///   index reachable from `head` is FREE and owned by the list; its link word is written
///   only by the thread that pushes it, before the push CAS (release), and read by poppers
///   after an acquire load of `head` that saw that push (or a later RMW of `head`).
/// - A popped slot belongs to exactly one caller until it is pushed again. Nodes below the
///   head change only after being popped, which changes the head's tag: so any CAS whose
///   expected head is stale fails, and a successful batch pop saw a consistent chain.
/// - `link[head.index].depth` is the free count; `inUse = accountedSlots - freeCount`.
/// - Checked mode: every slot on the list has a free state (0, or 2 when a reset freed it);
///   a slot becomes 1 only by the popper's CAS, and 0 again only by one deallocator's CAS
///   1→0, before its push.
/// - Growth and ``reset()`` are serialised by `growLock`; reset additionally swaps the head
///   to `Head.lockedIndex` and bumps `epoch` before republishing, so operations that
///   overlap it either fail their CAS or see the lock or new epoch and throw
///   ``OffHeapError/concurrentReset``.
/// - Every public free runs inside the free gate (FreeList+FreeGate.swift: one fetch-add to
///   enter, one fetch-sub to leave, on the head's cache line) from before its epoch load to
///   after its head CAS, and so does every checked-mode allocation from before its pop to
///   after its state CAS; `reset()` closes the gate and waits for it to empty before it
///   locks the head: so no free's link store can land in a list rebuilt by a reset that
///   ran after the free's epoch check, in either checking mode, and no allocation marks a
///   slot that a reset relisted after the pop. (Without the gate such a
///   store could relink the rebuilt list and hand one slot to two owners before the free's
///   CAS failed.) A locked head with no reset running ("poisoned", ``needsReset``) is kept
///   as a defence: every operation then throws until the next `reset()`.
///
/// Lock-free: a thread retries only when another thread's CAS on `head` succeeded, except
/// while a slab is being committed (losers yield and retry) and during `reset()`.
public final class FreeList: FixedSizeAllocator, @unchecked Sendable {
    // Hot-path map (grep the names):
    //   allocate()                                                    FreeList.swift
    //     → popChain(upTo: 1)            acquire head, CAS head        FreeList+Stack.swift
    //         empty → grow()             growLock, one slab            FreeList+Stack.swift
    //           → VirtualMemory.commit → initializeSlots → linkRun → pushChain
    //     checked: popMarked()           the same pop inside the gate  FreeList+Checked.swift
    //       → markAllocated(_:epoch:)    state CAS 0→1                 FreeList+Checked.swift
    //     → pointer(at:)                 base + index * stride
    //   deallocate(_:)                                                FreeList.swift
    //     → enterFreeGate()              fetch-add on the gate word    FreeList+FreeGate.swift
    //     → slotIndex(validating:)       range, alignment, interior    FreeList+Checked.swift
    //     → markFree(_:)                 checked: state CAS 1→0        FreeList+Checked.swift
    //     → pushChain(first:last:count:epoch:)  store link, CAS head   FreeList+Stack.swift
    //     → leaveFreeGate()
    //   reset()                                                       FreeList+Reset.swift
    //     → closeFreeGate → growLock → head to lockedIndex → epoch += 1 → linkRun → openFreeGate

    // @unchecked Sendable: all shared mutable state is in off-heap atomics (control block,
    // link and state tables); stored properties are immutable after init.

    /// The configuration this pool was created with.
    public let configuration: Configuration
    @usableFromInline internal let geometry: Geometry
    /// The slot reservation.
    @usableFromInline internal let region: OwnedRegion
    /// Control block + link table + state table (committed, faulted in lazily).
    @usableFromInline internal let metadata: OwnedRegion
    @usableFromInline internal let base: UnsafeMutableRawPointer
    @usableFromInline internal let stride: UInt
    /// `stride` is a power of two: index = offset >> strideShift.
    @usableFromInline internal let strideShift: Int
    /// Otherwise index = high 64 bits of `offset * reciprocal` (exact: see `slotIndex`).
    @usableFromInline internal let reciprocal: UInt64
    @usableFromInline internal let alignmentMask: UInt
    /// `capacity * stride`: offsets below it lie in some slot.
    @usableFromInline internal let slotBytes: UInt
    @usableFromInline internal let checked: Bool

    // Control block (off-heap, in `metadata`'s first page).
    @usableFromInline internal let head: UnsafeMutablePointer<Atomic<UInt64>>
    /// Bumped by every `reset()` while the head is locked.
    @usableFromInline internal let epoch: UnsafeMutablePointer<Atomic<UInt64>>
    /// Slots whose memory is committed and whose links are initialised; stored BEFORE
    /// their publishing push (validation must accept a slot as soon as it can be popped).
    @usableFromInline internal let validSlots: UnsafeMutablePointer<Atomic<UInt64>>
    /// Slots counted by statistics; stored AFTER the publishing push, so
    /// `accountedSlots - freeCount` never over-reports in-use slots.
    @usableFromInline internal let accountedSlots: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline internal let committedSlabs: UnsafeMutablePointer<Atomic<UInt64>>
    /// 0 = free, 1 = held by a grower, ``growLockHeldByReset`` = held by `reset()`.
    @usableFromInline internal let growLock: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline internal let peak: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline internal let casRetries: UnsafeMutablePointer<Atomic<UInt64>>
    /// One ``Link`` word per slot.
    @usableFromInline internal let links: UnsafeMutablePointer<Atomic<UInt64>>
    /// One state byte per slot (0 free, 1 allocated); used only in checked mode.
    @usableFromInline internal let states: UnsafeMutablePointer<Atomic<UInt8>>

    /// Creates a pool; with ``Growth/preallocate(populate:)`` every slab is committed now.
    ///
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)``,
    ///   ``OffHeapError/invalidAlignment(_:)``, ``OffHeapError/sizeTooLarge(requested:limit:)``
    ///   for a bad configuration; ``OffHeapError/mappingFailed(errno:)`` when the kernel
    ///   refuses the reservation.
    public init(configuration: Configuration) throws(OffHeapError) {
        let geometry = try Geometry(configuration)
        var preallocate = false
        var populate = false
        if case .preallocate(let pre) = configuration.growth {
            preallocate = true
            populate = pre
        }
        // Owned: if the second reservation throws, the first is unmapped as init fails.
        let metadata = try OwnedRegion(byteCount: geometry.metadataBytes, committed: true)
        let region = try OwnedRegion(
            byteCount: geometry.reservedBytes, committed: preallocate,
            hugePages: configuration.hugePages, populate: populate)
        let control = metadata.base
        let slots = region.base
        let hugeTLB = region.hugeTLB
        self.configuration = configuration
        self.geometry = geometry
        self.region = region
        self.metadata = metadata
        self.base = slots
        self.stride = UInt(geometry.stride)
        if geometry.stride & (geometry.stride - 1) == 0 {
            strideShift = geometry.stride.trailingZeroBitCount
            reciprocal = 0
        } else {
            strideShift = -1
            let total = UInt64(geometry.capacity * geometry.stride)
            let exact = !total.multipliedReportingOverflow(by: UInt64(geometry.stride)).overflow
            reciprocal = exact ? UInt64.max / UInt64(geometry.stride) + 1 : 0
        }
        alignmentMask = UInt(geometry.alignment - 1)
        slotBytes = UInt(geometry.capacity * geometry.stride)
        checked = configuration.checking == .checked

        func word(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
            let p = (control + offset).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
            p.initialize(to: Atomic(0))
            return p
        }
        // Head, epoch and the slot counters share the line the hot path reads; the rarely
        // written counters sit on lines of their own.
        head = word(0)
        epoch = word(8)
        validSlots = word(16)
        accountedSlots = word(24)
        committedSlabs = word(64)
        growLock = word(72)
        peak = word(128)
        casRetries = word(192)
        _ = word(FreeList.freeGateOffset)
        head.pointee.store(Head(index: Head.emptyIndex, tag: 0).raw, ordering: .relaxed)
        links = (control + geometry.linksOffset).bindMemory(
            to: Atomic<UInt64>.self, capacity: geometry.capacity)
        states = (control + geometry.statesOffset).bindMemory(
            to: Atomic<UInt8>.self, capacity: geometry.capacity)

        Instrumentation.createPool(slots)
        if preallocate || hugeTLB {
            // Everything is mapped read-write already: publish every slot now.
            Instrumentation.noAccess(slots, byteCount: geometry.reservedBytes)
            committedSlabs.pointee.store(UInt64(geometry.slabCount), ordering: .relaxed)
            let count = geometry.capacity
            initializeSlots(0..<count)
            validSlots.pointee.store(UInt64(count), ordering: .relaxed)
            linkRun(0..<count, below: Head.emptyIndex, bottomDepth: 0)
            accountedSlots.pointee.store(UInt64(count), ordering: .relaxed)
            head.pointee.store(Head(index: 0, tag: 1).raw, ordering: .releasing)
        }
    }

    deinit {
        Instrumentation.destroyPool(region.base)
        // `region` and `metadata` unmap themselves (OwnedRegion).
    }

    /// Bytes usable in every slot: the configured size rounded up to the alignment.
    @inlinable public var slotSize: Int { Int(stride) }
    /// Alignment of every slot's start.
    @inlinable public var slotAlignment: Int { Int(alignmentMask) + 1 }
    /// Most slots the pool can ever hold.
    @inlinable public var capacity: Int { geometry.capacity }

    /// A free slot, now owned by the caller.
    ///
    /// - Throws: ``OffHeapError/capacityExhausted(capacity:)`` when all `capacity` slots are in use,
    ///   ``OffHeapError/mappingFailed(errno:)`` when committing the next slab fails,
    ///   ``OffHeapError/concurrentReset`` when it overlaps ``reset()``.
    @inlinable
    public func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        let popped = checked ? try popMarked() : try popChain(upTo: 1)
        let slot = pointer(at: popped.first)
        Instrumentation.allocated(slot, byteCount: Int(bitPattern: stride), pool: base)
        return slot
    }

    /// Returns a slot obtained from this pool.
    ///
    /// - Throws: ``OffHeapError/foreignPointer`` (not a slot of this pool),
    ///   ``OffHeapError/misalignedPointer``, ``OffHeapError/interiorPointer`` (inside a slot,
    ///   not at its start), ``OffHeapError/doubleFree`` (checked mode; the pool is
    ///   unchanged), ``OffHeapError/concurrentReset``. After any error the pool is usable.
    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        try enterFreeGate()
        defer { leaveFreeGate() }
        let currentEpoch = epoch.pointee.load(ordering: .acquiring)
        let index = try slotIndex(validating: pointer)
        if checked { try markFree(index) }
        Instrumentation.freed(pointer, byteCount: Int(bitPattern: stride), pool: base)
        if Instrumentation.isEnabled {
            do { try pushChain(first: index, last: index, count: 1, epoch: currentEpoch) } catch {
                // A reset overlapped: the slot is the reset's now, maybe a new owner's.
                Instrumentation.readmit(pointer, byteCount: Int(bitPattern: stride))
                throw error
            }
            return
        }
        try pushChain(first: index, last: index, count: 1, epoch: currentEpoch)
    }

    /// Whether `pointer` lies inside this pool's slot range (any byte of any slot).
    @inlinable
    public func contains(_ pointer: UnsafeRawPointer) -> Bool {
        UInt(bitPattern: pointer) &- UInt(bitPattern: base) < slotBytes
    }

    /// The index of the slot starting at `pointer`.
    ///
    /// - Throws: ``OffHeapError/foreignPointer``, ``OffHeapError/misalignedPointer`` or
    ///   ``OffHeapError/interiorPointer`` exactly as ``deallocate(_:)-(UnsafeMutableRawPointer)`` would.
    @inlinable
    public func slotIndex(of pointer: UnsafeRawPointer) throws(OffHeapError) -> Int {
        Int(try slotIndex(validating: pointer))
    }

    /// The start of slot `index`, or `nil` when `index` is outside `0 ..< capacity`.
    /// The slot's memory is accessible only once the pool has grown over it.
    @inlinable
    package func slot(at index: Int) -> UnsafeMutableRawPointer? {
        guard index >= 0, index < geometry.capacity else { return nil }
        return pointer(at: UInt32(truncatingIfNeeded: index))
    }
}
