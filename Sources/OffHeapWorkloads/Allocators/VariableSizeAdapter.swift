import OffHeap

/// Serves fixed-size slots from a variable-size allocator (`SlabPool`, `SizeClassHeap`,
/// `Arena`), so the stress hammer runs against them too.
///
/// ```swift
/// let slots = try VariableSizeAdapter(try SystemAllocator(), slotSize: 64)
/// let p = try slots.allocate()
/// try slots.deallocate(p)
/// ```
public final class VariableSizeAdapter<Base: VariableSizeAllocator>: FixedSizeAllocator {
    public let base: Base
    public let slotSize: Int
    public let slotAlignment: Int
    /// Unbounded here: the base allocator's own limits apply.
    public var capacity: Int { .max }

    public init(_ base: Base, slotSize: Int, slotAlignment: Int = 16) throws(OffHeapError) {
        guard slotSize > 0 else { throw .invalidConfiguration(reason: "slotSize must be positive") }
        guard slotAlignment > 0, slotAlignment & (slotAlignment - 1) == 0 else {
            throw .invalidAlignment(slotAlignment)
        }
        self.base = base
        self.slotSize = slotSize
        self.slotAlignment = slotAlignment
    }

    @inlinable
    public func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer {
        try base.allocate(byteCount: slotSize, alignment: slotAlignment)
    }

    /// `true`: a variable-size base cannot tell which blocks are its own.
    public func contains(_ pointer: UnsafeRawPointer) -> Bool { true }

    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        try base.deallocate(pointer)
    }
}
