import Synchronization

extension Arena {
    /// A block of `byteCount` bytes whose address is a multiple of `alignment`.
    ///
    /// Lock-free. Requests up to `fastPathLimit` bytes with an alignment up to
    /// `granule` take the fast path: a single fetch-add on the state word. Others take one
    /// relaxed load and one compare-exchange. Every block is rounded up to `granule` bytes.
    ///
    /// ```swift
    /// let block = try arena.allocate(byteCount: 100, alignment: 16)
    /// ```
    /// - Throws: ``OffHeapError/zeroSize`` when `byteCount` is 0,
    ///   ``OffHeapError/sizeTooLarge(requested:limit:)`` when it is negative or exceeds
    ///   ``capacity``,
    ///   ``OffHeapError/invalidAlignment(_:)`` unless `alignment` is a power of two no larger
    ///   than ``maximumAlignment``, ``OffHeapError/capacityExhausted(capacity:)`` when the rest of the arena is
    ///   too small (``reset(decommit:)`` makes room), and ``OffHeapError/concurrentReset``
    ///   while a reset is in progress.
    @inlinable
    public func allocate(
        byteCount: Int, alignment: Int = 16
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount != 0 else { throw .zeroSize }
        guard byteCount > 0, byteCount <= capacity else {
            throw .sizeTooLarge(requested: byteCount, limit: capacity)
        }
        guard alignment > 0, alignment & (alignment &- 1) == 0, alignment <= maximumAlignment
        else { throw .invalidAlignment(alignment) }
        let size = (UInt64(byteCount) &+ Arena.granuleMask) & ~Arena.granuleMask
        if alignment <= Arena.granule && byteCount <= Arena.fastPathLimit {
            // Offsets are always multiples of the granule, so the old offset is aligned.
            let old = state.wrappingAdd(size, ordering: .acquiring).oldValue
            let start = old & Arena.offsetMask
            if old & Arena.resettingBit == 0 && start &+ size <= UInt64(capacity) {
                let block = region.base + Int(start)
                Instrumentation.handedOut(block, byteCount: byteCount)
                return block
            }
            try fastPathFailed(old: old)
        }
        let block = try allocateAligned(size: size, alignment: alignment)
        Instrumentation.handedOut(block, byteCount: byteCount)
        return block
    }

    /// After a fast-path fetch-add that did not yield a block: report why, and pull an
    /// offset pushed past the end back to `capacity` so failed requests never accumulate
    /// toward the generation bits. Lowering an offset that exceeds `capacity` to `capacity`
    /// is safe in any generation: no block ever ends beyond `capacity`.
    @usableFromInline
    internal func fastPathFailed(old: UInt64) throws(OffHeapError) -> Never {
        // During a reset the reset owns the word and overwrites it when done.
        if old & Arena.resettingBit != 0 { throw .concurrentReset }
        let limit = UInt64(capacity)
        var current = state.load(ordering: .relaxed)
        while current & Arena.resettingBit == 0 && current & Arena.offsetMask > limit {
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: (current & ~Arena.offsetMask) | limit,
                ordering: .relaxed)
            if exchanged { break }
            current = original
        }
        throw .capacityExhausted(capacity: capacity)
    }

    /// The compare-exchange path: large requests and alignments above the granule.
    @usableFromInline
    internal func allocateAligned(
        size: UInt64, alignment: Int
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        region.base + Int(try claim(size: size, alignment: alignment).start)
    }

    /// Claims `size` bytes (a multiple of the granule) at an offset aligned to `alignment`
    /// with one successful compare-exchange; returns the block's offset and the state word
    /// the exchange replaced (its generation is the block's generation — ``Arena/Local``
    /// records it).
    @usableFromInline
    internal func claim(
        size: UInt64, alignment: Int
    ) throws(OffHeapError) -> (start: UInt64, word: UInt64) {
        let mask = UInt64(alignment &- 1)
        let limit = UInt64(capacity)
        var current = state.load(ordering: .relaxed)
        while true {
            if current & Arena.resettingBit != 0 { throw .concurrentReset }
            let offset = current & Arena.offsetMask
            guard offset <= limit else { throw .capacityExhausted(capacity: capacity) }
            // offset ≤ 2^47, mask < 2^47, size ≤ 2^47: the sum stays inside 48 bits.
            let start = (offset &+ mask) & ~mask
            let end = start &+ size
            guard end <= limit else { throw .capacityExhausted(capacity: capacity) }
            let desired = (current & ~Arena.offsetMask) | end
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: desired,
                successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { return (start, current) }
            current = original
        }
    }

    /// Memory for `count` values of `type`, aligned for `T` and bound to it (uninitialised).
    ///
    /// ```swift
    /// let points = try arena.allocate(SIMD2<Float>.self, count: 1024)
    /// points.initialize(repeating: .zero)
    /// ```
    /// - Throws: as ``allocate(byteCount:alignment:)``; a `count` of 0 is
    ///   ``OffHeapError/zeroSize``, a negative one or one whose byte size overflows is
    ///   ``OffHeapError/sizeTooLarge(requested:limit:)``.
    @inlinable
    public func allocate<T: BitwiseCopyable>(
        _ type: T.Type, count: Int = 1
    ) throws(OffHeapError) -> UnsafeMutableBufferPointer<T> {
        guard count != 0 else { throw .zeroSize }
        let (bytes, overflow) = MemoryLayout<T>.stride.multipliedReportingOverflow(by: count)
        guard !overflow, bytes > 0 else {
            throw .sizeTooLarge(requested: overflow ? Int.max : bytes, limit: capacity)
        }
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
        let offset = pointer - region.base
        #if OFFHEAP_PLANTED_ARENA_OFF_BY_ONE
        // Planted defect (ci/fuzz.sh --planted; never in a real build): off by one, a pointer
        // exactly at the bump offset (e.g. a block's start right after a reset) is accepted.
        if offset > used { throw .useAfterReset }
        #else
        if offset >= used { throw .useAfterReset }
        #endif
    }

    /// Whether `pointer` lies inside the arena's region.
    @inlinable
    public func contains(_ pointer: UnsafeRawPointer) -> Bool { region.contains(pointer) }
}
