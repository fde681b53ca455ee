import Synchronization

extension FreeList {
    /// An owned slot: a `~Copyable` handle whose `consuming` deallocation makes a second
    /// free of the same handle a compile-time error.
    ///
    /// ```swift
    /// let slot = try pool.allocateSlot()
    /// slot.pointer.storeBytes(of: 7, as: Int.self)
    /// try pool.deallocate(slot)
    /// // try pool.deallocate(slot)   // error: 'slot' consumed more than once
    /// ```
    ///
    /// The handle remembers the pool's reset epoch: deallocating it after a
    /// ``FreeList/reset()`` throws ``OffHeapError/useAfterReset`` instead of freeing a slot
    /// that may belong to someone else by now. A handle that is dropped without being
    /// deallocated leaks its slot until the next reset (it holds no reference to the pool).
    @frozen
    public struct Slot: ~Copyable, @unchecked Sendable {
        // @unchecked Sendable: a unique owner of one off-heap slot; moving it to another
        // thread moves the ownership.

        /// The slot's first byte.
        public let pointer: UnsafeMutableRawPointer
        /// The pool's reset epoch when the slot was allocated.
        public let epoch: UInt64

        @inlinable
        internal init(pointer: UnsafeMutableRawPointer, epoch: UInt64) {
            self.pointer = pointer
            self.epoch = epoch
        }
    }

    /// A free slot as an owned ``Slot`` handle.
    ///
    /// - Throws: as ``allocate()``.
    @inlinable
    public func allocateSlot() throws(OffHeapError) -> Slot {
        let popped = checked ? try popMarked() : try popChain(upTo: 1)
        let slot = pointer(at: popped.first)
        Instrumentation.allocated(slot, byteCount: Int(bitPattern: stride), pool: base)
        return Slot(pointer: slot, epoch: popped.epoch)
    }

    /// Returns an owned slot; the handle is consumed.
    ///
    /// - Throws: ``OffHeapError/useAfterReset`` when the pool was reset since the slot was
    ///   allocated (nothing is freed), ``OffHeapError/foreignPointer`` for a slot of another
    ///   pool, ``OffHeapError/concurrentReset``.
    @inlinable
    public func deallocate(_ slot: consuming Slot) throws(OffHeapError) {
        try enterFreeGate()
        defer { leaveFreeGate() }
        let slotEpoch = slot.epoch
        guard epoch.pointee.load(ordering: .acquiring) == slotEpoch else { throw .useAfterReset }
        let index = try slotIndex(validating: slot.pointer)
        if checked { try markFree(index) }
        let pointer = slot.pointer
        Instrumentation.freed(pointer, byteCount: Int(bitPattern: stride), pool: base)
        if Instrumentation.isEnabled {
            do { try pushChain(first: index, last: index, count: 1, epoch: slotEpoch) } catch {
                // A reset overlapped: the slot is the reset's now, maybe a new owner's.
                Instrumentation.readmit(pointer, byteCount: Int(bitPattern: stride))
                throw error
            }
            return
        }
        try pushChain(first: index, last: index, count: 1, epoch: slotEpoch)
    }

    /// A free slot typed as `T`.
    ///
    /// ```swift
    /// let point = try pool.allocate(SIMD4<Float>.self)
    /// point.initialize(to: .zero)
    /// try pool.deallocate(point)
    /// ```
    ///
    /// - Throws: ``OffHeapError/sizeTooLarge(requested:limit:)`` when `T` does not fit in a
    ///   slot, ``OffHeapError/invalidAlignment(_:)`` when `T` needs more alignment than the
    ///   slots have; otherwise as ``allocate()``.
    @inlinable
    public func allocate<T: BitwiseCopyable>(
        _ type: T.Type
    ) throws(OffHeapError) -> UnsafeMutablePointer<T> {
        guard MemoryLayout<T>.size <= slotSize else {
            throw .sizeTooLarge(requested: MemoryLayout<T>.size, limit: slotSize)
        }
        guard MemoryLayout<T>.alignment <= slotAlignment else {
            throw .invalidAlignment(MemoryLayout<T>.alignment)
        }
        return try allocate().bindMemory(to: T.self, capacity: 1)
    }

    /// Returns a slot obtained from ``allocate(_:)``; as ``deallocate(_:)-(UnsafeMutableRawPointer)``.
    @inlinable
    public func deallocate<T: BitwiseCopyable>(
        _ pointer: UnsafeMutablePointer<T>
    ) throws(OffHeapError) {
        try deallocate(UnsafeMutableRawPointer(pointer))
    }
}
