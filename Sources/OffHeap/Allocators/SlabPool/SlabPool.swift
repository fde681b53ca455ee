import Synchronization

/// A thread-safe pool of variable-size blocks bumped from large slabs and freed in bulk by
/// ``reset(decommit:)``; requests above half a slab get a mapping of their own that
/// ``deallocate(_:)`` frees individually.
///
/// ```swift
/// let pool = try SlabPool(slabSize: 1 << 20)
/// let small = try pool.allocate(byteCount: 200, alignment: 16)   // bumped from a slab
/// let big = try pool.allocate(byteCount: 3 << 20, alignment: 64) // its own mapping
/// try pool.deallocate(big)                                       // unmapped now
/// try pool.reset(decommit: true)  // `small` is gone; the slabs stay mapped for reuse
/// ```
///
/// ## Invariant
///
/// *Slabs.* All slabs live in one reservation of `maximumSlabs × slabSize` bytes, reserved
/// `PROT_NONE` at creation: slab `i` is always at `base + i × slabSize`, so the "list of
/// slabs" is this off-heap reservation itself — reset reuses slabs in order at the same
/// addresses, and ownership of a pointer is one range check. Slabs `[0, committedSlabs)` are
/// readable and writable; a slab is *installed* by `mprotect`ing it and then moving
/// `committedSlabs` from `k` to `k + 1` with a compare-exchange (threads that race to install
/// the same slab both `mprotect` it, which is idempotent; one CAS wins). Slabs are never
/// unmapped before `deinit`; `reset(decommit: true)` only drops their pages.
///
/// *Bump cursor.* One atomic word, `cursor`, owns the free space of the current slab. It
/// packs `offset (bits 0..<40) | slab index (40..<56) | generation (56..<63) | resetting
/// (bit 63)`; only offsets and indices are packed, never pointer bits.
/// - The current slab index is always installed (`< committedSlabs`): slab 0 is installed at
///   creation, and the cursor moves to slab `k + 1` only after the mover has seen slab
///   `k + 1` installed. Hence installed slabs form a prefix.
/// - Bytes `[0, offset)` of the current slab, and every byte of earlier slabs in this
///   generation, belong to blocks already handed out; bytes from `offset` on belong to
///   nobody. A block belongs to the thread whose compare-exchange on `cursor` moved past it,
///   so blocks never overlap.
/// - The cursor compare-exchange is acquiring-and-releasing: the `committedSlabs` increment
///   that installed a slab happens-before any allocation from it, and the bytes a block held
///   before a reset happen-before its next owner's writes (reset publishes the new cursor
///   with a releasing store).
/// - The generation makes a compare-exchange prepared before a reset fail after it. Even a
///   wrapped generation (128 resets inside one thread's retry window) would be harmless:
///   slab `i` never moves, so a CAS from cursor value `v` claims exactly the bytes that are
///   free whenever the cursor equals `v`.
/// - While `resetting` is set, `reset` owns every slab and the large-block table; other
///   allocations and resets fail with ``OffHeapError/concurrentReset`` and change nothing.
///
/// *Large blocks.* Each lives in its own mapping, recorded in an off-heap table (its own
/// mapping, never malloc) of entries `state | address | byteCount`. `state` packs
/// `version << 3 | phase` with phases empty → inserting → live → freeing → freed (or
/// released-by-reset). Only the thread that won the CAS into `inserting` or `freeing` writes
/// the entry's fields, and it publishes them with a releasing store of the next phase;
/// every reuse of an entry bumps `version`, so a stale CAS can never free a block twice
/// (ABA). Tombstones (freed / released-by-reset) keep their address, so a second
/// `deallocate` of a large block is ``OffHeapError/doubleFree`` and a block released by a
/// reset is ``OffHeapError/useAfterReset`` — for as long as the tombstone is not reused
/// (the table has ``maximumLargeAllocations`` entries; tombstones are recycled only when no
/// empty entry is left). An insert turns older tombstones of its address back into empty
/// entries, but only while its own block is still live: a tombstone newer than the block
/// is never erased. Forgetting also makes one `deallocate` scan non-atomic: it may read
/// the new block's entry before it is live and the old tombstone after it was forgotten. So
/// an insert bumps `largeInserts` before forgetting (the forgetting CAS releases it), and a
/// `deallocate` whose scan found no double free scans again if the counter moved.
///
/// *Large blocks and reset.* An `allocateLarge` announces itself (sequentially consistent
/// increment of `largeAllocationsInFlight`) before it checks `resetting` (sequentially
/// consistent load), and withdraws after its block is live in the table. A reset sets
/// `resetting` (sequentially consistent CAS) and then waits until no allocation is in
/// flight before it releases large blocks. This is the store→load (Dekker) pattern: either
/// the allocation sees `resetting` and fails with ``OffHeapError/concurrentReset``, or the
/// reset sees the announcement and waits until the block is in the table, where its scan
/// releases it. So no large block allocated before a reset survives it. The wait is bounded
/// by one `mmap` plus an insert; allocations never wait for a reset.
///
/// ## Checkers
///
/// In builds with `-DOFFHEAP_INSTRUMENTED` (see `Instrumentation`) a small block is made
/// accessible to memcheck (undefined) and ASan for exactly its requested size when handed
/// out; a slab tail retired by the compare-exchange that moved the cursor to the next slab,
/// and every slab a reset ends, are inaccessible, so a use after ``reset(decommit:)`` or a
/// read past a block into a retired tail is reported. A large block's page-rounding tail is
/// inaccessible; the block itself is its own mapping (memcheck and ASan see its unmapping).
/// Blocks are not memcheck chunks: small blocks are freed in bulk, so a dropped pointer is
/// no leak. Not covered: the never-used part of a slab not yet ended by a reset (poisoning
/// it would race with the threads allocating from it).
public final class SlabPool: VariableSizeAllocator, @unchecked Sendable {
    // Hot-path map (grep the names):
    //   allocate(byteCount:alignment:)                                 SlabPool+Allocation.swift
    //     → ≤ largeThreshold: cursor CAS (offset | slab index | generation)
    //         slab full → advanceSlab(from:index:offset:size:)
    //           → installSlab(_:) → VirtualMemory.commit → committedSlabs CAS
    //           → cursor CAS to (index + 1, size) → addRetiredTail(_:generation:)
    //     → > largeThreshold: allocateLarge(byteCount:alignment:)     SlabPool+LargeBlocks.swift
    //         → largeAllocationsInFlight → VirtualMemory.reserve → insertLarge(address:byteCount:)
    //   deallocate(_:)                                                  SlabPool+Reset.swift
    //     → slabIndex(of:) (no-op for slab blocks) | deallocateLarge(_:) → unmapLarge
    //   reset(decommit:) → resettingBit, wait in-flight large, releaseAllLarge  SlabPool+Reset.swift

    // @unchecked Sendable: all mutable state is atomic, off-heap, and governed by the
    // invariant above.

    @usableFromInline internal static let offsetBits: UInt64 = 40
    @usableFromInline internal static let offsetMask: UInt64 = (1 << 40) - 1
    @usableFromInline internal static let indexMask: UInt64 = (1 << 16) - 1
    @usableFromInline internal static let generationShift: UInt64 = 56
    @usableFromInline internal static let generationMask: UInt64 = (1 << 7) - 1
    @usableFromInline internal static let resettingBit: UInt64 = 1 << 63

    /// Largest slab size: 2^39 bytes (offsets are 40-bit fields).
    public static let maximumSlabSize = 1 << 39
    /// Most slabs a pool can have (the slab index is a 16-bit field).
    public static let maximumSlabLimit = 1 << 16
    /// Largest single request: 2^46 bytes.
    public static let maximumByteCount = 1 << 46

    /// The configuration this pool was made with (``slabSize`` is its slab size rounded up
    /// to whole pages).
    public let configuration: Configuration
    /// Bytes per slab (a multiple of the page size).
    public let slabSize: Int
    /// Most slabs this pool installs; beyond them slab requests are ``OffHeapError/capacityExhausted(capacity:)``.
    public let maximumSlabs: Int
    /// Requests larger than this many bytes get their own mapping (half a slab).
    public let largeThreshold: Int
    /// Most large blocks live at once.
    public let maximumLargeAllocations: Int
    /// Largest alignment accepted: the page size.
    public let maximumAlignment: Int

    /// The reservation every slab lives in.
    @usableFromInline internal let slabRegion: OwnedRegion
    /// The off-heap large-block table: 4 words per entry (state, address, byteCount, pad).
    @usableFromInline internal let largeTableRegion: OwnedRegion
    @usableFromInline internal let largeTable: UnsafeMutablePointer<Atomic<UInt64>>

    /// `offset | index << 40 | generation << 56 | resetting << 63`.
    @usableFromInline internal let cursor: Atomic<UInt64>
    /// Installed slabs: `[0, committedSlabs)` are readable and writable.
    @usableFromInline internal let committedSlabs: Atomic<Int>
    /// Slabs that may hold pages from before the current generation (set by `reset`).
    @usableFromInline internal let touchedSlabs: Atomic<Int>
    /// Unused tails of slabs the cursor left, as `generation << 56 | bytes`: an update
    /// prepared in an older generation finds a different generation and is dropped, so a
    /// slab switch racing with `reset` cannot leak its tail into the new generation.
    @usableFromInline internal let retiredTails: Atomic<UInt64>
    /// Large-block inserts so far: bumped (release) before an insert forgets tombstones, so
    /// a `deallocate` whose scan overlapped one can tell and scan again.
    @usableFromInline internal let largeInserts: Atomic<UInt64>
    @usableFromInline internal let liveLargeCount: Atomic<Int>
    @usableFromInline internal let liveLargeBytes: Atomic<Int>
    @usableFromInline internal let resetCount: Atomic<Int>
    /// `allocateLarge` calls between their announcement and their insert (see the invariant:
    /// a reset waits for them before it releases large blocks).
    @usableFromInline internal let largeAllocationsInFlight: Atomic<Int>

    /// Creates a pool and installs its first slab.
    ///
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)`` for a value of
    ///   `configuration` out of range, ``OffHeapError/mappingFailed(errno:)``.
    public init(configuration: Configuration) throws(OffHeapError) {
        let slabSize = configuration.slabSize
        let maximumSlabs = configuration.maximumSlabs
        let maximumLargeAllocations = configuration.maximumLargeAllocations
        let page = VirtualMemory.pageSize
        guard slabSize > 0, slabSize <= SlabPool.maximumSlabSize else {
            throw .invalidConfiguration(reason: "slabSize must be in 1...2^39")
        }
        guard maximumSlabs > 0, maximumSlabs <= SlabPool.maximumSlabLimit else {
            throw .invalidConfiguration(reason: "maximumSlabs must be in 1...65536")
        }
        guard maximumLargeAllocations > 0, maximumLargeAllocations <= 1 << 20 else {
            throw .invalidConfiguration(reason: "maximumLargeAllocations must be in 1...2^20")
        }
        let slab = VirtualMemory.roundUp(slabSize, to: page)
        let (total, overflow) = slab.multipliedReportingOverflow(by: maximumSlabs)
        guard !overflow, total <= 1 << 55 else {
            throw .invalidConfiguration(reason: "slabSize * maximumSlabs exceeds 2^55")
        }
        self.slabSize = slab
        self.configuration = configuration
        self.maximumSlabs = maximumSlabs
        self.largeThreshold = slab / 2
        self.maximumLargeAllocations = maximumLargeAllocations
        self.maximumAlignment = page

        // Owned: a throw below unmaps what was reserved.
        let slabs = try OwnedRegion(byteCount: total)
        let tableBytes = maximumLargeAllocations * 4 * MemoryLayout<UInt64>.stride
        let table = try OwnedRegion(byteCount: tableBytes, committed: true)
        try VirtualMemory.commit(slabs.base, byteCount: slab)
        let words = table.base.bindMemory(
            to: Atomic<UInt64>.self, capacity: maximumLargeAllocations * 4)
        for index in 0..<(maximumLargeAllocations * 4) {
            (words + index).initialize(to: Atomic(0))
        }
        self.slabRegion = slabs
        self.largeTableRegion = table
        self.largeTable = words
        self.cursor = Atomic(0)
        self.committedSlabs = Atomic(1)
        self.touchedSlabs = Atomic(0)
        self.retiredTails = Atomic(0)
        self.largeInserts = Atomic(0)
        self.liveLargeCount = Atomic(0)
        self.liveLargeBytes = Atomic(0)
        self.resetCount = Atomic(0)
        self.largeAllocationsInFlight = Atomic(0)
    }

    deinit {
        for index in 0..<maximumLargeAllocations {
            let state = largeState(index).pointee.load(ordering: .acquiring)
            if state & LargePhase.mask == LargePhase.live {
                let address = largeAddress(index).pointee.load(ordering: .relaxed)
                let size = Int(largeByteCount(index).pointee.load(ordering: .relaxed))
                if let pointer = UnsafeMutableRawPointer(bitPattern: UInt(address)) {
                    try? VirtualMemory.release(pointer, byteCount: size)
                }
            }
        }
        // Atomic<UInt64> is trivially destructible; `largeTableRegion` and `slabRegion` unmap
        // themselves (OwnedRegion), which ends the table's lifetime.
    }

    /// Base address of slab `index` (installed or not).
    @inlinable @inline(__always)
    internal func slabBase(_ index: Int) -> UnsafeMutableRawPointer {
        slabRegion.base + index &* slabSize
    }

    /// Base addresses of the installed slabs, in order (what `reset` reuses).
    package var slabAddresses: [UnsafeMutableRawPointer] {
        let count = committedSlabs.load(ordering: .acquiring)
        var result: [UnsafeMutableRawPointer] = []
        result.reserveCapacity(count)
        for index in 0..<count { result.append(slabBase(index)) }
        return result
    }

    /// Whether `pointer` lies in one of this pool's installed slabs or live large blocks.
    public func contains(_ pointer: UnsafeRawPointer) -> Bool {
        if let slab = slabIndex(of: pointer) {
            return slab < committedSlabs.load(ordering: .acquiring)
        }
        return findLiveLargeBlock(containing: UInt(bitPattern: pointer)) != nil
    }

    @usableFromInline
    internal func slabIndex(of pointer: UnsafeRawPointer) -> Int? {
        guard slabRegion.contains(pointer) else { return nil }
        return (pointer - UnsafeRawPointer(slabRegion.base)) / slabSize
    }
}
