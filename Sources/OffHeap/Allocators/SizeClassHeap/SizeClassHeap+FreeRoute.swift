extension SizeClassHeap {
    /// Where a free's fast path (``SizeClassHeap/deallocateFast(_:)``) left it: done, or
    /// which slow path finishes it (``SizeClassHeap/finishDeallocate(_:_:)``).
    ///
    /// The fast path makes no call. Splitting the route from the slow paths lets a caller
    /// return at once on ``freed`` and tail-call one out-of-line function for the rest, so
    /// the common free needs no stack frame and saves no registers:
    ///
    ///     let route = heap.deallocateFast(pointer)
    ///     if case .freed = route { return }
    ///     try heap.finishDeallocate(pointer, route)
    ///
    /// Who holds what: ``freed`` and ``freedInto(_:_:)`` have ended the free announcement;
    /// ``notOwner(_:_:)`` and ``declined(_:)`` carry it still open, and the slow path ends it
    /// after its last access to segment memory.
    @frozen @usableFromInline
    internal enum FreeRoute {
        /// Freed; nothing left to do.
        case freed
        /// Freed into the calling thread's `page` of `queue`, which is now empty (and not
        /// the queue's current page) or was on the full list: ``pageFreedInto(_:_:)`` moves
        /// or releases it.
        case freedInto(UnsafeMutablePointer<ClassQueue>, PagePointer)
        /// Nothing changed: the unit descriptor of a small segment of this heap whose page
        /// the calling thread does not own (a remote free), or a unit serving no page.
        case notOwner(PagePointer, FreeAnnouncement)
        /// Nothing changed: a pointer the fast path does not accept (huge block, foreign,
        /// misaligned, or in checked mode not a live block); the slow path checks everything
        /// again and throws the typed error.
        case declined(FreeAnnouncement)
        /// Nothing changed: the calling thread has no table yet (its first free).
        case noTable
    }
}
