import Synchronization

/// Returns reclaimed nodes to a ``FixedSizeAllocator`` and tracks how full that pool is.
///
/// Ownership is the pool's own ``FixedSizeAllocator/contains(_:)``, and the free fraction's
/// denominator its ``FixedSizeAllocator/capacity``. The in-use count
/// is maintained by ``allocate()`` (+1) and ``reclaim(_:)`` / ``deallocate(_:)`` (−1), so
/// allocate through this wrapper to let the PI controller see the pool's pressure. (Hyaline's
/// reclamation lowers the count once per batch, in ``didReclaim(count:)``.)
///
/// The count is striped over 16 cache lines by the calling thread (the address of its
/// Hyaline thread table), so two threads allocating and reclaiming do not bounce one line
/// between their cores; a stripe may go negative (a node allocated on one thread and
/// reclaimed on another), only the sum is meaningful, and it is read without stopping the
/// threads (approximate under concurrency, exact when quiescent).
///
/// ```swift
/// let nodes = HyalinePoolReclaimer(pool)
/// let id = try domain.register(nodes)
/// let node = try nodes.allocate()
/// ```
public final class HyalinePoolReclaimer<Pool: FixedSizeAllocator>: HyalineReclaimer,
    @unchecked Sendable
{
    /// The pool nodes come from and return to.
    public let pool: Pool
    /// Slots in the pool (the denominator of ``freeFraction``): the pool's capacity, at
    /// least 1.
    @usableFromInline internal let capacity: Int
    /// Checked retirement: the slot index of a node, and one byte per slot (1 = retired,
    /// not yet reclaimed). `nil` when not tracking.
    @usableFromInline internal let slotIndex: (@Sendable (UnsafeMutableRawPointer) -> Int?)?
    @usableFromInline internal let retiredMarks: UnsafeMutablePointer<Atomic<UInt8>>?
    @usableFromInline internal let inUse: UnsafeMutablePointer<Atomic<Int>>
    @usableFromInline internal static var stripes: Int { 16 }
    /// Atomics per stripe (one 64-byte line each).
    @usableFromInline internal static var spacing: Int { 8 }

    /// Creates a reclaimer that returns reclaimed nodes to `pool`.
    ///
    /// - Parameter pool: where nodes come from and go back to.
    /// - Parameters:
    /// `retire` rejects nodes outside `pool` (``FixedSizeAllocator/contains(_:)``).
    ///
    /// - Parameters:
    ///   - slotIndex: checked retirement: a node's slot index in `0 ..< pool.capacity` (for
    ///     example `{ try? pool.slotIndex(of: $0) }`); with it, retiring a node that is
    ///     already retired and not yet reclaimed throws ``OffHeapError/doubleFree`` instead
    ///     of running the reclaimer twice. Costs one byte per slot and one CAS per retire;
    ///     ignored for a pool of more than 2³² slots.
    public init(
        _ pool: Pool, slotIndex: (@Sendable (UnsafeMutableRawPointer) -> Int?)? = nil
    ) {
        self.pool = pool
        self.capacity = max(1, pool.capacity)
        let tracked = capacity <= 1 << 32 ? slotIndex : nil
        self.slotIndex = tracked
        if tracked != nil {
            let marks = UnsafeMutablePointer<Atomic<UInt8>>.allocate(capacity: max(1, capacity))
            for index in 0..<max(1, capacity) { (marks + index).initialize(to: Atomic(0)) }
            retiredMarks = marks
        } else {
            retiredMarks = nil
        }
        inUse = .allocate(capacity: Self.stripes * Self.spacing)
        for index in 0..<(Self.stripes * Self.spacing) {
            (inUse + index).initialize(to: Atomic(0))
        }
        super.init()
    }

    deinit {
        inUse.deinitialize(count: Self.stripes * Self.spacing)
        inUse.deallocate()
        if let retiredMarks {
            retiredMarks.deinitialize(count: capacity)
            retiredMarks.deallocate()
        }
    }

    /// The retired mark of `pointer`'s slot, when tracking and the index is in range.
    @usableFromInline
    internal func retiredMark(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt8>>? {
        guard let retiredMarks, let slotIndex, let index = slotIndex(pointer),
            index >= 0, index < capacity
        else { return nil }
        return retiredMarks + index
    }

    public override func willRetire(_ pointer: UnsafeMutableRawPointer) -> Bool {
        guard let mark = retiredMark(pointer) else { return true }
        return mark.pointee.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged
    }

    /// Slots currently allocated through this wrapper and not yet reclaimed.
    package var allocatedCount: Int {
        var total = 0
        for stripe in 0..<Self.stripes {
            total &+= (inUse + stripe &* Self.spacing).pointee.load(ordering: .relaxed)
        }
        return total
    }

    /// The calling thread's stripe of the in-use count.
    @inlinable @inline(__always)
    internal var stripe: UnsafeMutablePointer<Atomic<Int>> {
        let bits = UInt(bitPattern: ThreadLocalSlot.hyaline.value)
        return inUse + Int(truncatingIfNeeded: (bits >> 12) & UInt(Self.stripes - 1)) &* Self.spacing
    }

    /// A node from the pool.
    @inlinable
    public func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        let pointer = try pool.allocate()
        stripe.pointee.add(1, ordering: .relaxed)
        return pointer
    }

    /// Returns a node that was never published (no reader can hold it) straight to the pool.
    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        try pool.deallocate(pointer)
        stripe.pointee.subtract(1, ordering: .relaxed)
    }

    public override func contains(_ pointer: UnsafeMutableRawPointer) -> Bool {
        pool.contains(pointer)
    }

    public override func reclaim(_ pointer: UnsafeMutableRawPointer) {
        // The pointer passed `contains` at retire and Hyaline frees each retired node once, so
        // the pool cannot reject it; a rejection would mean a bug, which we refuse to hide
        // by trapping in a reclamation path: the slot is then leaked, not reused.
        // The in-use count drops in `didReclaim(count:)`, once per batch; a leaked slot
        // stays counted as in use.
        // Cleared before the slot goes back: once reallocated it may be retired again.
        if let mark = retiredMark(pointer) { mark.pointee.store(0, ordering: .relaxed) }
        do {
            try pool.deallocate(pointer)
        } catch {
            stripe.pointee.add(1, ordering: .relaxed)
        }
    }

    public override func didReclaim(count: Int) {
        stripe.pointee.subtract(count, ordering: .relaxed)
    }

    public override var freeFraction: Double {
        return max(0, 1 - Double(max(0, allocatedCount)) / Double(capacity))
    }
}
