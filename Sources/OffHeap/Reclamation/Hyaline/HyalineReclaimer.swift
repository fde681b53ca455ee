import Synchronization

/// Where a retired node goes once no reader can hold it: usually back to its pool.
///
/// Subclass and override ``contains(_:)`` and ``reclaim(_:)``; register the instance with
/// ``HyalineDomain/register(_:)`` and pass the returned id to
/// ``HyalineGuard/retire(_:birthEra:reclaimer:)``. ``HyalinePoolReclaimer`` does this for any
/// ``FixedSizeAllocator``.
///
/// A class, not a protocol: the domain keeps reclaimers as unmanaged references in its
/// off-heap table (indexed by ``HyalineReclaimerID``), and a class reference converts to and
/// from raw bits without a dynamic cast (which the Embedded core cannot use).
///
/// `@unchecked Sendable`: stateless here; subclasses must be thread-safe because reclamation
/// runs on whichever thread frees the last reference to a batch.
open class HyalineReclaimer: @unchecked Sendable {
    /// Creates a reclaimer; register it with ``HyalineDomain/register(_:)``.
    public init() {}

    /// Whether `pointer` is a node this reclaimer may receive. `retire` rejects other
    /// pointers with ``OffHeapError/foreignPointer``.
    open func contains(_ pointer: UnsafeMutableRawPointer) -> Bool { true }
    /// Called by `retire` after ``contains(_:)``: whether `pointer` may be retired now. A
    /// reclaimer that tracks retired nodes returns `false` for a node already retired and
    /// not yet reclaimed, and `retire` throws ``OffHeapError/doubleFree`` (the domain is
    /// unchanged). If it returns `true`, the node is retired. Default: no tracking.
    open func willRetire(_ pointer: UnsafeMutableRawPointer) -> Bool { true }

    /// Frees `pointer`; no thread holds it any more. Must not throw or trap.
    open func reclaim(_ pointer: UnsafeMutableRawPointer) {}

    /// Called on the reclaiming thread after `count` consecutive ``reclaim(_:)`` calls of
    /// one batch, so per-node bookkeeping can be paid once per batch.
    /// ``HyalinePoolReclaimer`` updates its in-use count here.
    open func didReclaim(count: Int) {}

    /// Fraction of the backing pool that is free, in `0...1` (`1` when unknown). The
    /// adaptive threshold controller reads this.
    open var freeFraction: Double { 1 }
}
