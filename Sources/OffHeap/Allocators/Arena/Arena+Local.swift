import Synchronization

extension Arena {
    /// A view of an ``Arena`` owned by one thread: it takes a *chunk* of the arena with one
    /// atomic operation and then hands out blocks from it with plain arithmetic.
    ///
    /// ```swift
    /// let arena = try Arena(capacity: 64 << 20)
    /// // On each worker thread:
    /// var local = try arena.makeLocal()           // 64 KiB chunks
    /// let node = try local.allocate(byteCount: 48, alignment: 16)
    /// let keys = try local.allocate(UInt64.self, count: 8)
    /// ```
    ///
    /// ## Invariant
    ///
    /// - Ownership: bytes `[cursor, end)` are the unused rest of a chunk that the view claimed
    ///   from the arena (one successful compare-exchange on the arena's `state`, see
    ///   ``Arena``). Only the view touches `cursor`/`end`; it is `~Copyable` and not
    ///   `Sendable`, so exactly one thread owns those fields and no atomics are needed to
    ///   carve blocks: each block `[start, start + byteCount)` with `cursor ≤ start` moves
    ///   `cursor` past it, so blocks of one view never overlap, and blocks of different views
    ///   lie in different chunks, which the arena's own invariant keeps disjoint.
    /// - Generation: the chunk belongs to the arena generation in which it was claimed;
    ///   `tag` is that generation (shifted into place, `resetting` clear) and `resets` the
    ///   arena's reset count read just after the claim. Every allocation, fast path
    ///   included, first loads the arena's state word (relaxed) and the reset count
    ///   (relaxed) and serves from the chunk only when both still match, so it linearises at
    ///   that load exactly as ``Arena/allocate(byteCount:alignment:)`` linearises at its
    ///   RMW: a reset that happened-before the call (any synchronisation with the resetting
    ///   thread) is always seen, because the reset's release store and count increment
    ///   precede that synchronisation. A mismatch throws ``OffHeapError/useAfterReset``
    ///   (``OffHeapError/concurrentReset`` while the `resetting` bit is set) and drops the
    ///   chunk, so the view is usable again and refills from the new generation.
    ///   The 64-bit reset count covers the case the 15-bit generation alone would miss: a
    ///   view left idle across a multiple of 2^15 resets.
    ///   No false alarm: the chunk's claim (acquiring) reads a state word at or after the
    ///   last reset's release store, which follows that reset's count increment, so the
    ///   count read after the claim is never stale.
    ///
    /// ## Why a load on the fast path
    ///
    /// The alternative, checking the generation only on refill, would let a view keep
    /// carving its old chunk after a reset, overlapping blocks the new generation hands to
    /// other threads — silent corruption. Two relaxed loads are plain `mov`s on x86-64 and
    /// `ldr`s on aarch64 (no RMW, no fence); the line they read is written only by chunk
    /// claims, direct ``Arena/allocate(byteCount:alignment:)`` calls and resets, so with
    /// views doing the allocating it stays shared in every core's cache. Measured with
    /// the `ArenaBenchmarks` target (figures in that file's header).
    ///
    /// A reset *concurrent* with the view's use is caller misuse, as it is for any block:
    /// ``Arena/reset(decommit:)`` requires every block — and the view's chunk is one — to be
    /// out of use. The check turns the detectable cases into typed errors; it cannot stop a
    /// thread from writing through a pointer it was handed before the reset.
    ///
    /// ## Costs
    ///
    /// - Like the arena, the view rounds every block up to `granule` bytes, so a
    ///   block's start is aligned for any alignment ≤ the granule without arithmetic.
    /// - Waste: a refill abandons the old chunk's remainder, and dropping a view (its
    ///   `deinit` does nothing) abandons its chunk's remainder; both come back only on the
    ///   arena's next reset. At most one chunk per live view is lost this way.
    /// - A request that does not fit in a chunk (size plus alignment padding) goes straight
    ///   to the arena and leaves the current chunk in place.
    /// - When the arena has no room for a whole chunk, the request itself is tried on the
    ///   arena, so the arena's last bytes stay usable; only then is
    ///   ``OffHeapError/capacityExhausted(capacity:)`` thrown.
    public struct Local: ~Copyable {
        /// Keeps the arena (and so its mapping) alive while the view exists.
        @usableFromInline internal let arena: Arena
        /// Next free address of the chunk; always a multiple of `granule` (chunks
        /// start on one and every block is rounded up to one, as in the arena itself).
        @usableFromInline internal var cursor: UInt
        /// One past the chunk's last byte; `cursor == end == 0` when the view has no chunk.
        @usableFromInline internal var end: UInt
        /// Expected `state & ~offsetMask`: the chunk's generation, `resetting` clear.
        @usableFromInline internal var tag: UInt64
        /// The arena's reset count read just after the chunk was claimed.
        @usableFromInline internal var resets: Int
        /// Copy of the arena's maximum alignment (keeps the fast path off the class).
        @usableFromInline internal let maximumAlignment: UInt
        /// Bytes claimed from the arena per refill (a multiple of `granule`).
        public let chunkSize: Int

        @usableFromInline
        internal init(arena: Arena, chunkSize: Int) {
            self.arena = arena
            self.cursor = 0
            self.end = 0
            self.tag = 0
            self.resets = 0
            self.maximumAlignment = UInt(arena.maximumAlignment)
            self.chunkSize = chunkSize
        }

        /// Bytes left in the current chunk (an aligned request may get fewer).
        @inlinable
        public var remaining: Int { Int(bitPattern: end &- cursor) }

        /// A block of `byteCount` bytes whose address is a multiple of `alignment`.
        ///
        /// Fast path: a bounds check, two relaxed loads of the arena's state, one store to
        /// the view — no atomic read-modify-write. A refill costs one compare-exchange on
        /// the arena.
        ///
        /// ```swift
        /// var local = try arena.makeLocal(chunkSize: 16 << 10)
        /// let p = try local.allocate(byteCount: 24, alignment: 8)
        /// ```
        /// - Throws: ``OffHeapError/zeroSize`` when `byteCount` is not positive,
        ///   ``OffHeapError/invalidAlignment(_:)`` unless `alignment` is a power of two no
        ///   larger than the arena's ``Arena/maximumAlignment``,
        ///   ``OffHeapError/sizeTooLarge(requested:limit:)`` beyond the arena's capacity,
        ///   ``OffHeapError/capacityExhausted(capacity:)`` when the arena has no room,
        ///   ``OffHeapError/useAfterReset`` when the arena was reset since the chunk was
        ///   claimed and ``OffHeapError/concurrentReset`` while a reset runs (both drop the
        ///   chunk; the next call refills).
        @inlinable
        public mutating func allocate(
            byteCount: Int, alignment: Int = 16
        ) throws(OffHeapError) -> UnsafeMutableRawPointer {
            let mask = UInt(bitPattern: alignment &- 1)
            // Only used once `byteCount > 0` holds: then it cannot wrap.
            let size = (UInt(bitPattern: byteCount) &+ Arena.localGranuleMask)
                & ~Arena.localGranuleMask
            // `cursor` is a multiple of the granule, so small alignments need no rounding
            // (keeps the loop-carried chain to load, add, store). Otherwise cursor ≤ end <
            // 2^64 - 2^47 and mask < maximumAlignment: no overflow.
            let start = mask <= Arena.localGranuleMask ? cursor : (cursor &+ mask) & ~mask
            if byteCount > 0, mask < maximumAlignment, alignment & (alignment &- 1) == 0,
                start <= end, size <= end &- start,
                chunkIsCurrent
            {
                cursor = start &+ size
                let block = UnsafeMutableRawPointer(bitPattern: start).unsafelyUnwrapped
                Instrumentation.handedOut(block, byteCount: byteCount)
                return block
            }
            return try allocateSlow(byteCount: byteCount, alignment: alignment)
        }

        /// Memory for `count` values of `type`, aligned for `T` and bound to it
        /// (uninitialised).
        ///
        /// ```swift
        /// let ids = try local.allocate(UInt32.self, count: 100)
        /// ids.initialize(repeating: 0)
        /// ```
        /// - Throws: as ``allocate(byteCount:alignment:)``; a `count` of 0 is
        ///   ``OffHeapError/zeroSize``, a negative one or one whose byte size overflows is
        ///   ``OffHeapError/sizeTooLarge(requested:limit:)``.
        @inlinable
        public mutating func allocate<T: BitwiseCopyable>(
            _ type: T.Type, count: Int = 1
        ) throws(OffHeapError) -> UnsafeMutableBufferPointer<T> {
            guard count != 0 else { throw .zeroSize }
            let (bytes, overflow) = MemoryLayout<T>.stride.multipliedReportingOverflow(by: count)
            guard !overflow, bytes > 0 else {
                throw .sizeTooLarge(requested: overflow ? Int.max : bytes, limit: arena.capacity)
            }
            let raw = try allocate(
                byteCount: max(bytes, 1), alignment: max(MemoryLayout<T>.alignment, 1))
            let typed = raw.bindMemory(to: T.self, capacity: count)
            return UnsafeMutableBufferPointer(start: typed, count: count)
        }

        /// Whether the chunk still belongs to the arena's current generation and no reset
        /// runs (two relaxed loads; see the type's invariant).
        @inlinable
        internal var chunkIsCurrent: Bool {
            arena.state.load(ordering: .relaxed) & ~Arena.offsetMask == tag
                && arena.resetCount.load(ordering: .relaxed) == resets
        }
    }

    /// A thread-owned view that allocates from this arena in chunks of `chunkSize` bytes.
    ///
    /// Keep one view per thread; it holds the arena alive.
    ///
    /// ```swift
    /// var local = try arena.makeLocal(chunkSize: 32 << 10)
    /// ```
    /// - Parameter chunkSize: bytes claimed per refill, rounded up to `granule` and
    ///   clamped to ``capacity``; default 64 KiB.
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)`` when `chunkSize` is not
    ///   positive.
    public func makeLocal(chunkSize: Int = 64 << 10) throws(OffHeapError) -> Local {
        guard chunkSize > 0 else {
            throw .invalidConfiguration(reason: "chunkSize must be positive")
        }
        let clamped = min(chunkSize, capacity)
        let rounded = (clamped &+ Arena.granule &- 1) & ~(Arena.granule &- 1)
        return Local(arena: self, chunkSize: rounded)
    }
}

extension Arena.Local {
    /// Everything but the fast path: validation, stale-chunk detection, refill, requests
    /// larger than a chunk.
    @usableFromInline
    internal mutating func allocateSlow(
        byteCount: Int, alignment: Int
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        guard byteCount != 0 else { throw .zeroSize }
        guard alignment > 0, alignment & (alignment &- 1) == 0,
            UInt(alignment) <= maximumAlignment
        else { throw .invalidAlignment(alignment) }
        guard byteCount > 0, byteCount <= arena.capacity else {
            throw .sizeTooLarge(requested: byteCount, limit: arena.capacity)
        }
        if end != 0 { try dropChunkIfStale() }
        // A fresh chunk is granule-aligned: larger alignments may cost this much padding.
        let padding = alignment > Arena.granule ? alignment &- Arena.granule : 0
        if byteCount &+ padding > chunkSize {
            // Bigger than a chunk: its own block; the current chunk keeps serving.
            return try arena.allocate(byteCount: byteCount, alignment: alignment)
        }
        let claimed: (start: UInt64, word: UInt64)
        do throws(OffHeapError) {
            claimed = try arena.claim(size: UInt64(chunkSize), alignment: Arena.granule)
        } catch .capacityExhausted {
            // No room for a whole chunk: the request alone may still fit.
            return try arena.allocate(byteCount: byteCount, alignment: alignment)
        }
        // Read after the claim (see the type's invariant: never stale, never a false alarm).
        resets = arena.resetCount.load(ordering: .relaxed)
        tag = claimed.word & ~Arena.offsetMask
        cursor = UInt(bitPattern: arena.region.base + Int(claimed.start))
        end = cursor &+ UInt(chunkSize)
        let mask = UInt(alignment &- 1)
        let start = (cursor &+ mask) & ~mask
        let size = (UInt(byteCount) &+ Arena.localGranuleMask) & ~Arena.localGranuleMask
        cursor = start &+ size  // fits: chunkSize is a granule multiple ≥ byteCount + padding
        let block = UnsafeMutableRawPointer(bitPattern: start).unsafelyUnwrapped
        Instrumentation.handedOut(block, byteCount: byteCount)
        return block
    }

    /// Throws (and forgets the chunk) when the arena was reset since the chunk was claimed
    /// or is being reset now.
    @usableFromInline
    internal mutating func dropChunkIfStale() throws(OffHeapError) {
        let word = arena.state.load(ordering: .relaxed)
        let count = arena.resetCount.load(ordering: .relaxed)
        if word & ~Arena.offsetMask == tag && count == resets { return }
        cursor = 0
        end = 0
        if word & Arena.resettingBit != 0 { throw .concurrentReset }
        throw .useAfterReset
    }
}

extension Arena {
    /// `granule` − 1 (15) as a `UInt`, for the view's address arithmetic.
    @inlinable internal static var localGranuleMask: UInt { 15 }
}

@available(*, unavailable, message: "an Arena.Local belongs to the thread that made it")
extension Arena.Local: Sendable {}
