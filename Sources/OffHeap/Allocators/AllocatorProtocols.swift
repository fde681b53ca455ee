/// An allocator of fixed-size slots (``FreeList``, ``ShardedFreeList``).
///
/// Workloads and lock-free structures are generic over this protocol (`some`, never `any`:
/// the core stays Embedded-clean and every call is specialised).
///
/// ```swift
/// func churn(_ pool: some FixedSizeAllocator) throws(OffHeapError) {
///     let slot = try pool.allocate()
///     slot.storeBytes(of: 7, as: UInt64.self)
///     try pool.deallocate(slot)
/// }
/// ```
public protocol FixedSizeAllocator: AnyObject, Sendable {
    /// Bytes usable in every slot.
    var slotSize: Int { get }
    /// Alignment of every slot's start.
    var slotAlignment: Int { get }
    /// Most slots live at once (`Int.max` for an allocator without a bound).
    var capacity: Int { get }
    /// Whether `pointer` lies in memory this allocator hands slots out of (an allocator that
    /// cannot tell answers `true`). Structures built on a pool use it to reject foreign
    /// nodes, so they need not be told separately.
    func contains(_ pointer: UnsafeRawPointer) -> Bool
    /// A free slot, now owned by the caller.
    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer
    /// Returns a slot obtained from ``allocate()`` of this allocator.
    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError)
}

/// An allocator of variable-size blocks (`SlabPool`, `SizeClassHeap`, `Arena`).
public protocol VariableSizeAllocator: AnyObject, Sendable {
    /// A block of at least `byteCount` bytes aligned to `alignment` (a power of two).
    func allocate(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer
    /// Returns a block; allocators that free only in bulk (`Arena`) reject this with a typed
    /// error or accept it as a no-op, as they document.
    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError)
}
