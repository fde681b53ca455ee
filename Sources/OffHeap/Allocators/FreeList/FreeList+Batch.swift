import Synchronization

// Batch allocate / deallocate: one successful head CAS per batch.
extension FreeList {
    /// Fills `buffer` with free slots, taking each run off the list with one CAS.
    ///
    /// Returns how many slots were written (from the start of `buffer`): all of them unless
    /// the pool ran out, in which case the slots obtained so far are kept.
    ///
    /// ```swift
    /// let slots = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 32)
    /// let n = try pool.allocate(into: slots)
    /// try pool.deallocate(contentsOf: UnsafeBufferPointer(rebasing: slots[..<n]))
    /// ```
    ///
    /// - Throws: ``OffHeapError/capacityExhausted(capacity:)`` only when not even one slot is free,
    ///   ``OffHeapError/concurrentReset``, ``OffHeapError/mappingFailed(errno:)``.
    @inlinable
    public func allocate(
        into buffer: UnsafeMutableBufferPointer<UnsafeMutableRawPointer>
    ) throws(OffHeapError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let popped: (first: UInt32, count: Int, epoch: UInt64)
            // Checked mode: the pop and the state CASes below never straddle a reset
            // (see `popMarked()`).
            if checked { try enterFreeGate() }
            defer { if checked { leaveFreeGate() } }
            do {
                let offset = filled
                popped = try popChain(upTo: buffer.count - filled) { position, index in
                    buffer[offset + position] = pointer(at: index)
                }
            } catch {
                if error.kind == .capacityExhausted && filled > 0 { return filled }
                // After a reset the slots we hold are free already: returning them could
                // free another thread's new allocation.
                if error != .concurrentReset { releaseAfterFailure(buffer, filled) }
                throw error
            }
            if checked {
                for position in filled..<filled + popped.count {
                    let offset = UInt(bitPattern: buffer[position]) &- UInt(bitPattern: base)
                    let index = UInt32(truncatingIfNeeded: slotIndex(forOffset: offset))
                    // Throws when a reset overlapped us (all we hold is free again), or
                    // when the list is corrupted (then nothing can be trusted to be freed).
                    try markAllocated(index, epoch: popped.epoch)
                }
            }
            if Instrumentation.isEnabled {
                for position in filled..<filled + popped.count {
                    Instrumentation.allocated(buffer[position], byteCount: Int(bitPattern: stride), pool: base)
                }
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
    /// privately through the side table first, in one pass).
    ///
    /// All or nothing: every pointer is validated (and, in checked mode, marked free)
    /// before anything is published; on any error no slot is freed. The slots are pushed
    /// as if freed one by one in buffer order: the last one is allocated next.
    ///
    /// - Throws: ``OffHeapError/foreignPointer``, ``OffHeapError/misalignedPointer``,
    ///   ``OffHeapError/interiorPointer``, ``OffHeapError/doubleFree`` (also for a pointer
    ///   listed twice), ``OffHeapError/concurrentReset``.
    @inlinable
    public func deallocate(
        contentsOf pointers: UnsafeBufferPointer<UnsafeMutableRawPointer>
    ) throws(OffHeapError) {
        guard !pointers.isEmpty else { return }
        try enterFreeGate()
        defer { leaveFreeGate() }
        let currentEpoch = epoch.pointee.load(ordering: .acquiring)
        let published = validSlots.pointee.load(ordering: .relaxed)
        // Link against the current head; `pushChain` relinks only if the free count moved.
        let top = Head(raw: head.pointee.load(ordering: .acquiring)).index
        guard top != Head.lockedIndex, epoch.pointee.load(ordering: .relaxed) == currentEpoch
        else { throw .concurrentReset }
        let below = freeCount(below: top)
        // Chain: pointers[n-1] → … → pointers[0] → top; depth of pointers[i] = below + i + 1.
        var previous = top
        var last: UInt32 = 0
        for position in pointers.indices {
            let index: UInt32
            do {
                index = try slotIndex(validating: pointers[position], published: published)
                if checked { try markFree(index) }
            } catch {
                if checked { unmarkChain(from: previous, count: position) }
                throw error
            }
            links[Int(index)].store(
                Link(next: previous, depth: below &+ UInt32(truncatingIfNeeded: position + 1)).raw,
                ordering: .relaxed)
            if position == 0 { last = index }
            previous = index
        }
        if Instrumentation.isEnabled {
            for pointer in pointers {
                Instrumentation.freed(pointer, byteCount: Int(bitPattern: stride), pool: base)
            }
            do {
                try pushChain(
                    first: previous, last: last, count: pointers.count, epoch: currentEpoch,
                    linkedBelow: below)
            } catch {
                for pointer in pointers { Instrumentation.readmit(pointer, byteCount: Int(bitPattern: stride)) }
                throw error
            }
            return
        }
        try pushChain(
            first: previous, last: last, count: pointers.count, epoch: currentEpoch,
            linkedBelow: below)
    }

    /// Checked mode: undoes `count` marks of a batch whose private chain starts at `first`.
    @usableFromInline
    internal func unmarkChain(from first: UInt32, count: Int) {
        var index = first
        for _ in 0..<count {
            _ = states[Int(index)].compareExchange(expected: 0, desired: 1, ordering: .relaxed)
            index = nextIndex(after: index)
        }
    }
}
