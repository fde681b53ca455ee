import Synchronization

// Batch allocate / deallocate: one successful head CAS per batch.
extension FreeList {
    /// Fills `buffer` with free slots, taking each run off the list with one CAS.
    ///
    /// Returns how many slots were written (from the start of `buffer`): all of them unless
    /// the pool ran out, in which case the slots obtained so far are kept.
    ///
    /// ```swift
    /// var slots = [UnsafeMutableRawPointer](repeating: pool.slot(at: 0)!, count: 32)
    /// let n = try slots.withUnsafeMutableBufferPointer { try pool.allocate(into: $0) }
    /// try slots.withUnsafeBufferPointer { try pool.deallocate(contentsOf: .init(rebasing: $0[..<n])) }
    /// ```
    ///
    /// - Throws: ``OffHeapError/exhausted`` only when not even one slot is free,
    ///   ``OffHeapError/concurrentReset``, ``OffHeapError/mappingFailed(errno:)``.
    @inlinable
    public func allocate(
        into buffer: UnsafeMutableBufferPointer<UnsafeMutableRawPointer>
    ) throws(OffHeapError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let popped: (first: UInt32, count: Int, epoch: UInt64)
            do {
                popped = try popChain(upTo: buffer.count - filled)
            } catch {
                if error == .exhausted && filled > 0 { return filled }
                // After a reset the slots we hold are free already: returning them could
                // free another thread's new allocation.
                if error != .concurrentReset { releaseAfterFailure(buffer, filled) }
                throw error
            }
            var index = popped.first
            for position in 0..<popped.count {
                // Throws only when a reset overlapped us: everything we hold is free again.
                if checked { try markAllocated(index, epoch: popped.epoch) }
                buffer[filled + position] = pointer(at: index)
                if position + 1 < popped.count { index = nextIndex(after: index) }
            }
            filled += popped.count
        }
        return filled
    }

    /// Hands back the first `count` slots of `buffer` after a failed batch.
    @usableFromInline
    internal func releaseAfterFailure(
        _ buffer: UnsafeMutableBufferPointer<UnsafeMutableRawPointer>, _ count: Int
    ) {
        guard count > 0 else { return }
        try? deallocate(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
    }

    /// Returns every slot in `pointers` with ONE successful CAS (the chain is linked
    /// privately through the side table first).
    ///
    /// All or nothing: every pointer is validated (and, in checked mode, marked free)
    /// before anything is published; on any error no slot is freed.
    ///
    /// - Throws: ``OffHeapError/foreignPointer``, ``OffHeapError/misalignedPointer``,
    ///   ``OffHeapError/interiorPointer``, ``OffHeapError/doubleFree`` (also for a pointer
    ///   listed twice), ``OffHeapError/concurrentReset``.
    @inlinable
    public func deallocate(
        contentsOf pointers: UnsafeBufferPointer<UnsafeMutableRawPointer>
    ) throws(OffHeapError) {
        guard let firstPointer = pointers.first else { return }
        let currentEpoch = epoch.pointee.load(ordering: .acquiring)
        for p in pointers { _ = try slotIndex(validating: p) }
        if checked {
            for position in pointers.indices {
                do {
                    try markFree(try slotIndex(validating: pointers[position]))
                } catch {
                    // Undo the marks made so far: the batch frees nothing.
                    for undo in 0..<position {
                        let index = try slotIndex(validating: pointers[undo])
                        _ = states[Int(index)].compareExchange(
                            expected: 0, desired: 1, ordering: .relaxed)
                    }
                    throw error
                }
            }
        }
        let first = try slotIndex(validating: firstPointer)
        var previous = first
        for p in pointers.dropFirst() {
            let index = try slotIndex(validating: p)
            setNextIndex(of: previous, to: index)
            previous = index
        }
        try pushChain(first: first, last: previous, count: pointers.count, epoch: currentEpoch)
    }
}
