extension FreeList {
    /// The stack head word: `index (low 32 bits) | tag (high 32 bits)`.
    ///
    /// Never a pointer: indices and tags survive any virtual address width (LA57, 52-bit
    /// aarch64, TBI). `index` is a slot index, ``emptyIndex`` or ``lockedIndex``; `tag` is
    /// incremented (wrapping) by every successful compare-exchange of the head, so a thread
    /// holding a stale head value fails its CAS even if the same index is on top again (ABA),
    /// unless exactly 2³² head changes happened in between.
    @frozen @usableFromInline
    internal struct Head: Equatable, Sendable {
        /// No free slot on the list.
        @usableFromInline static let emptyIndex: UInt32 = 0xFFFF_FFFF
        /// ``FreeList/reset()`` owns the list; every other operation fails with
        /// ``OffHeapError/concurrentReset``.
        @usableFromInline static let lockedIndex: UInt32 = 0xFFFF_FFFE

        @usableFromInline var raw: UInt64

        @inlinable @inline(__always)
        init(raw: UInt64) { self.raw = raw }

        @inlinable @inline(__always)
        init(index: UInt32, tag: UInt32) {
            raw = UInt64(index) | UInt64(tag) << 32
        }

        @inlinable var index: UInt32 { UInt32(truncatingIfNeeded: raw) }
        @inlinable var tag: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) }

        /// The head after one more successful CAS, now pointing at `index`.
        @inlinable @inline(__always)
        func replacing(index: UInt32) -> Head { Head(index: index, tag: tag &+ 1) }
    }

    /// One side-table link word: `next index (low 32 bits) | depth (high 32 bits)`.
    ///
    /// `depth` is the number of free slots from this node to the bottom of the stack,
    /// itself included, so the depth of the head node is the free count.
    @frozen @usableFromInline
    internal struct Link: Equatable, Sendable {
        @usableFromInline var raw: UInt64

        @inlinable @inline(__always)
        init(raw: UInt64) { self.raw = raw }

        @inlinable @inline(__always)
        init(next: UInt32, depth: UInt32) {
            raw = UInt64(next) | UInt64(depth) << 32
        }

        @inlinable var next: UInt32 { UInt32(truncatingIfNeeded: raw) }
        @inlinable var depth: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) }
    }
}
