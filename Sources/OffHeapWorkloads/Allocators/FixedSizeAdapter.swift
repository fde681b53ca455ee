import OffHeap

/// Serves variable-size requests from a fixed-size allocator whose slots are large enough,
/// so `FreeList` and `ShardedFreeList` run the variable-size workloads too.
///
/// Requests larger than the slot or aligned beyond it are refused with a typed error, never
/// truncated.
///
/// ```swift
/// let adapter = FixedSizeAdapter(try SystemAllocator(slotSize: 1024))
/// let p = try adapter.allocate(byteCount: 100, alignment: 8)
/// try adapter.deallocate(p)
/// ```
public final class FixedSizeAdapter<Base: FixedSizeAllocator>: VariableSizeAllocator {
    public let base: Base

    public init(_ base: Base) { self.base = base }

    @inlinable
    public func allocate(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount > 0 else { throw .zeroSize }
        guard byteCount <= base.slotSize else {
            throw .sizeTooLarge(requested: byteCount, limit: base.slotSize)
        }
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= base.slotAlignment else {
            throw .invalidAlignment(alignment)
        }
        return try base.allocate()
    }

    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        try base.deallocate(pointer)
    }
}
