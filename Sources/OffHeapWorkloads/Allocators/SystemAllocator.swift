import COffHeapHostShims
import COffHeapShims
import OffHeap
import Synchronization

/// The process's `malloc`/`free` (glibc, or whichever allocator `LD_PRELOAD` interposes),
/// behind both allocator protocols so every workload runs against it unchanged.
///
/// It is the baseline of every comparison, so it adds only what the workloads need: a fixed
/// `slotSize` for ``FixedSizeAllocator`` users, zero/oversize/alignment checks, and an
/// optional `capacity` (a bound on live blocks) so the stress hammer's exhaustion and
/// recovery phase has something to exhaust. It cannot detect double or foreign frees —
/// `free` would crash or corrupt first — so ``deallocate(_:)`` trusts its caller.
///
/// Invariant: `live` counts blocks handed out and not yet returned; with a capacity, an
/// `allocate` reserves its unit with a CAS before calling `malloc` (relaxed: the counter
/// publishes nothing, `malloc` itself orders the memory).
///
/// ```swift
/// let system = try SystemAllocator(slotSize: 64, capacity: 1024)
/// let p = try system.allocate()
/// try system.deallocate(p)
/// ```
public final class SystemAllocator: FixedSizeAllocator, VariableSizeAllocator, @unchecked Sendable {
    // @unchecked Sendable: the only mutable state is the atomic `live` counter.
    public let slotSize: Int
    public let slotAlignment: Int
    /// Most blocks live at once, or `Int.max` for unbounded.
    public let capacity: Int
    /// Largest request ``allocate(byteCount:alignment:)`` serves.
    public static let maximumByteCount = 1 << 40
    @usableFromInline internal let live = Atomic<Int>(0)

    /// - Throws: `.invalidConfiguration` for a non-positive slot size or capacity, or an
    ///   alignment that is not a power of two between 8 and 4096.
    public init(slotSize: Int = 64, slotAlignment: Int = 16, capacity: Int = .max) throws(OffHeapError) {
        guard slotSize > 0 else { throw .invalidConfiguration(reason: "slotSize must be positive") }
        guard slotAlignment >= 8, slotAlignment <= 4096, slotAlignment & (slotAlignment - 1) == 0 else {
            throw .invalidConfiguration(reason: "slotAlignment must be a power of two in 8...4096")
        }
        guard capacity > 0 else { throw .invalidConfiguration(reason: "capacity must be positive") }
        self.slotSize = slotSize
        self.slotAlignment = slotAlignment
        self.capacity = capacity
    }

    /// `true`: `malloc` memory cannot be told apart from any other.
    public func contains(_ pointer: UnsafeRawPointer) -> Bool { true }

    /// Blocks currently allocated.
    public var liveCount: Int { live.load(ordering: .relaxed) }

    @inlinable
    internal func reserveUnit() throws(OffHeapError) {
        if capacity == .max { return }
        var current = live.load(ordering: .relaxed)
        while true {
            if current >= capacity { throw .capacityExhausted(capacity: capacity) }
            let (done, seen) = live.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if done { return }
            current = seen
        }
    }

    @inlinable
    internal func releaseUnit() {
        if capacity == .max { return }
        live.subtract(1, ordering: .relaxed)
    }

    @inlinable
    public func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        try reserveUnit()
        let raw = slotAlignment <= 16
            ? offheap_malloc(slotSize) : offheap_aligned_malloc(slotSize, slotAlignment)
        guard let raw else {
            releaseUnit()
            throw .mappingFailed(errno: offheap_errno())
        }
        return raw
    }

    @inlinable
    public func allocate(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount > 0 else { throw .zeroSize }
        guard byteCount <= SystemAllocator.maximumByteCount else {
            throw .sizeTooLarge(requested: byteCount, limit: SystemAllocator.maximumByteCount)
        }
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 1 << 20 else {
            throw .invalidAlignment(alignment)
        }
        try reserveUnit()
        let raw = alignment <= 16
            ? offheap_malloc(byteCount) : offheap_aligned_malloc(byteCount, alignment)
        guard let raw else {
            releaseUnit()
            throw .mappingFailed(errno: offheap_errno())
        }
        return raw
    }

    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        offheap_free(pointer)
        releaseUnit()
    }
}
