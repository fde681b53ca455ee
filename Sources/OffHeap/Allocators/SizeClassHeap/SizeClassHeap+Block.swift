extension SizeClassHeap {
    /// An owned block: a `~Copyable` handle whose `consuming` deallocation makes a second
    /// free of the same handle a compile-time error, like ``FreeList/Slot``.
    ///
    /// ```swift
    /// let block = try heap.allocateBlock(byteCount: 100)
    /// block.pointer.storeBytes(of: 7, as: Int.self)
    /// try heap.deallocate(block)
    /// // try heap.deallocate(block)   // error: 'block' consumed more than once
    /// ```
    ///
    /// A handle that is dropped without being deallocated leaks its block (it holds no
    /// reference to the heap). The raw-pointer ``allocate(byteCount:alignment:)`` /
    /// ``deallocate(_:)-(UnsafeMutableRawPointer)`` pair stays for code that keeps blocks in
    /// its own structures.
    @frozen
    public struct Block: ~Copyable, @unchecked Sendable {
        // @unchecked Sendable: a unique owner of one off-heap block; moving it to another
        // thread moves the ownership (a free from another thread is a remote free).

        /// The block's first byte.
        public let pointer: UnsafeMutableRawPointer
        /// The bytes requested (``SizeClassHeap/usableSize(of:)`` may be larger).
        public let byteCount: Int

        @inlinable
        internal init(pointer: UnsafeMutableRawPointer, byteCount: Int) {
            self.pointer = pointer
            self.byteCount = byteCount
        }
    }

    /// A block of at least `byteCount` bytes as an owned ``Block`` handle.
    ///
    /// - Throws: as ``allocate(byteCount:alignment:)``.
    @inlinable
    public func allocateBlock(byteCount: Int, alignment: Int = 16) throws(OffHeapError) -> Block {
        Block(pointer: try allocate(byteCount: byteCount, alignment: alignment), byteCount: byteCount)
    }

    /// Returns an owned block; the handle is consumed.
    ///
    /// - Throws: as ``deallocate(_:)-(UnsafeMutableRawPointer)``.
    @inlinable
    public func deallocate(_ block: consuming Block) throws(OffHeapError) {
        try deallocate(block.pointer)
    }
}
