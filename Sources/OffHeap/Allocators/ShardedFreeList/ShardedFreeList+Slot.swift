extension ShardedFreeList {
    /// An owned slot: a `~Copyable` handle whose `consuming` deallocation makes a second
    /// free of the same handle a compile-time error, like ``FreeList/Slot``.
    ///
    /// ```swift
    /// let slot = try pool.allocateSlot()
    /// slot.pointer.storeBytes(of: 7, as: Int.self)
    /// try pool.deallocate(slot)
    /// // try pool.deallocate(slot)   // error: 'slot' consumed more than once
    /// ```
    ///
    /// A handle that is dropped without being deallocated leaks its slot (it holds no
    /// reference to the pool). The raw-pointer ``allocate()`` / ``deallocate(_:)-(UnsafeMutableRawPointer)``
    /// pair stays for code that keeps slots in its own structures.
    @frozen
    public struct Slot: ~Copyable, @unchecked Sendable {
        // @unchecked Sendable: a unique owner of one off-heap slot; moving it to another
        // thread moves the ownership.

        /// The slot's first byte.
        public let pointer: UnsafeMutableRawPointer

        @inlinable
        internal init(pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
    }

    /// A free slot as an owned ``Slot`` handle.
    ///
    /// - Throws: as ``allocate()``.
    @inlinable
    public func allocateSlot() throws(OffHeapError) -> Slot {
        Slot(pointer: try allocate())
    }

    /// Returns an owned slot; the handle is consumed.
    ///
    /// - Throws: as ``deallocate(_:)-(UnsafeMutableRawPointer)``.
    @inlinable
    public func deallocate(_ slot: consuming Slot) throws(OffHeapError) {
        try deallocate(slot.pointer)
    }
}
