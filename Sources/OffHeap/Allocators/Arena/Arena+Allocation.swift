import Synchronization

extension Arena {
    /// A block of `byteCount` bytes whose address is a multiple of `alignment`.
    ///
    /// Lock-free: one relaxed load and one compare-exchange when uncontended.
    ///
    /// ```swift
    /// let block = try arena.allocate(byteCount: 100, alignment: 16)
    /// ```
    /// - Throws: ``OffHeapError/zeroSize`` when `byteCount` is not positive,
    ///   ``OffHeapError/sizeTooLarge(requested:limit:)`` when it exceeds ``capacity``,
    ///   ``OffHeapError/invalidAlignment(_:)`` unless `alignment` is a power of two no larger
    ///   than ``maximumAlignment``, ``OffHeapError/exhausted`` when the rest of the arena is
    ///   too small (nothing changes; ``reset(decommit:)`` makes room), and
    ///   ``OffHeapError/concurrentReset`` while a reset is in progress.
    @inlinable
    public func allocate(
        byteCount: Int, alignment: Int = 16
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount > 0 else { throw .zeroSize }
        guard byteCount <= capacity else {
            throw .sizeTooLarge(requested: byteCount, limit: capacity)
        }
        guard alignment > 0, alignment & (alignment &- 1) == 0, alignment <= maximumAlignment
        else { throw .invalidAlignment(alignment) }
        let mask = UInt64(alignment &- 1)
        let size = UInt64(byteCount)
        let limit = UInt64(capacity)
        var current = state.load(ordering: .relaxed)
        while true {
            if current & Arena.resettingBit != 0 { throw .concurrentReset }
            let offset = current & Arena.offsetMask
            // offset ≤ 2^47 and mask < 2^47: no overflow, the result stays in 48 bits.
            let start = (offset &+ mask) & ~mask
            let end = start &+ size
            guard end <= limit else { throw .exhausted }
            let desired = (current & ~Arena.offsetMask) | end
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: desired,
                successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { return region.base + Int(start) }
            current = original
        }
    }

    /// Memory for `count` values of `type`, aligned for `T` and bound to it (uninitialised).
    ///
    /// ```swift
    /// let points = try arena.allocate(SIMD2<Float>.self, count: 1024)
    /// points.initialize(repeating: .zero)
    /// ```
    /// - Throws: as ``allocate(byteCount:alignment:)``; a `count` that is not positive is
    ///   ``OffHeapError/zeroSize``, one whose byte size overflows is
    ///   ``OffHeapError/sizeTooLarge(requested:limit:)``.
    @inlinable
    public func allocate<T: BitwiseCopyable>(
        _ type: T.Type, count: Int = 1
    ) throws(OffHeapError) -> UnsafeMutableBufferPointer<T> {
        guard count > 0 else { throw .zeroSize }
        let (bytes, overflow) = MemoryLayout<T>.stride.multipliedReportingOverflow(by: count)
        guard !overflow else { throw .sizeTooLarge(requested: Int.max, limit: capacity) }
        let raw = try allocate(
            byteCount: max(bytes, 1), alignment: max(MemoryLayout<T>.alignment, 1))
        let typed = raw.bindMemory(to: T.self, capacity: count)
        return UnsafeMutableBufferPointer(start: typed, count: count)
    }

    /// Accepts a block back, as a no-op: an arena frees in bulk on ``reset(decommit:)``.
    ///
    /// - Throws: ``OffHeapError/foreignPointer`` for a pointer outside the arena,
    ///   ``OffHeapError/useAfterReset`` for a pointer at or beyond the current bump offset
    ///   (no block of the current generation starts there, so it predates a reset).
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        guard region.contains(pointer) else { throw .foreignPointer }
        let offset = UInt64(pointer - region.base)
        let current = state.load(ordering: .relaxed)
        if offset >= current & Arena.offsetMask { throw .useAfterReset }
    }

    /// Whether `pointer` lies inside the arena's region.
    @inlinable
    public func owns(_ pointer: UnsafeRawPointer) -> Bool { region.contains(pointer) }
}
