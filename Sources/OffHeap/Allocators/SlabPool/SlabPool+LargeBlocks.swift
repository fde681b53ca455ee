import Synchronization

/// Phases of a large-block table entry (low 3 bits of its state word; the rest is the
/// entry's version). See ``SlabPool``'s invariant.
@usableFromInline
internal enum LargePhase {
    @usableFromInline static let mask: UInt64 = 7
    @usableFromInline static let empty: UInt64 = 0
    @usableFromInline static let inserting: UInt64 = 1
    @usableFromInline static let live: UInt64 = 2
    @usableFromInline static let freeing: UInt64 = 3
    @usableFromInline static let freed: UInt64 = 4
    @usableFromInline static let releasedByReset: UInt64 = 5
}

extension SlabPool {
    @inlinable @inline(__always)
    internal func largeState(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        largeTable + 4 &* index
    }

    @inlinable @inline(__always)
    internal func largeAddress(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        largeTable + (4 &* index &+ 1)
    }

    @inlinable @inline(__always)
    internal func largeByteCount(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        largeTable + (4 &* index &+ 2)
    }

    /// Maps a block of its own and records it in the table.
    @usableFromInline
    internal func allocateLarge(
        byteCount: Int, alignment: Int
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        try allocateLarge(byteCount: byteCount, alignment: alignment, afterResetCheck: {})
    }

    /// ``allocateLarge(byteCount:alignment:)`` that runs `afterResetCheck` between its check
    /// for a running reset and its insert; tests use it to hold an allocation in that window.
    @_spi(Testing)
    public func allocateLarge(
        byteCount: Int, alignment: Int, afterResetCheck: () -> Void
    ) throws(OffHeapError) -> UnsafeMutableRawPointer {
        // Announce, then check: see "Large blocks and reset" in the invariant.
        // Litmus: SB with reset(): W in-flight; R cursor vs W resetting; R in-flight.
        largeAllocationsInFlight.add(1, ordering: .sequentiallyConsistent)
        defer { largeAllocationsInFlight.subtract(1, ordering: .releasing) }
        if cursor.load(ordering: .sequentiallyConsistent) & SlabPool.resettingBit != 0 {
            throw .concurrentReset
        }
        afterResetCheck()
        let size = VirtualMemory.roundUp(byteCount, to: VirtualMemory.pageSize)
        let region = try VirtualMemory.reserve(byteCount: size, alignment: alignment, committed: true)
        let address = UInt64(UInt(bitPattern: region.base))
        guard insertLarge(address: address, byteCount: UInt64(region.byteCount)) else {
            try? VirtualMemory.release(region)
            throw .largeAllocationsExhausted(limit: maximumLargeAllocations)
        }
        liveLargeCount.wrappingAdd(1, ordering: .relaxed)
        liveLargeBytes.wrappingAdd(region.byteCount, ordering: .relaxed)
        // Checkers: the page-rounding tail past the request is nobody's (its own mapping:
        // freeing or a reset unmaps it, which memcheck and ASan track by themselves).
        Instrumentation.noAccess(region.base + byteCount, byteCount: size &- byteCount)
        return region.base
    }

    /// Claims an empty entry (or, failing that, a tombstone) and publishes the block in it.
    internal func insertLarge(address: UInt64, byteCount: UInt64) -> Bool {
        let count = maximumLargeAllocations
        let start = Int((address >> 12) % UInt64(count))
        for pass in 0..<2 {
            let acceptTombstones = pass == 1
            for step in 0..<count {
                let index = (start + step) % count
                let state = largeState(index)
                var current = state.pointee.load(ordering: .relaxed)
                while true {
                    let phase = current & LargePhase.mask
                    let usable =
                        phase == LargePhase.empty
                        || (acceptTombstones
                            && (phase == LargePhase.freed || phase == LargePhase.releasedByReset))
                    guard usable else { break }
                    let version = (current >> 3) &+ 1
                    let (exchanged, original) = state.pointee.compareExchange(
                        expected: current, desired: version << 3 | LargePhase.inserting,
                        successOrdering: .acquiring, failureOrdering: .relaxed)
                    if exchanged {
                        largeAddress(index).pointee.store(address, ordering: .relaxed)
                        largeByteCount(index).pointee.store(byteCount, ordering: .relaxed)
                        state.pointee.store(version << 3 | LargePhase.live, ordering: .releasing)
                        // Before forgetting: see `deallocateLarge`.
                        largeInserts.add(1, ordering: .releasing)
                        forgetTombstones(of: address, except: index, version: version)
                        return true
                    }
                    current = original
                }
            }
        }
        return false
    }

    /// A new block at `address` makes older history about that address meaningless: turn
    /// its tombstones back into empty entries so a later misuse is judged by the new block.
    ///
    /// Only while the new block (entry `keep`, `version`) is still live: once it is freed,
    /// the address may have been mapped, recorded and freed again, and a tombstone met now
    /// may be newer than the block — the only record that a later free is a double free.
    /// (A tombstone read before the check and found live there is older: its block was
    /// unmapped before this one was mapped.) Older tombstones left behind are harmless.
    internal func forgetTombstones(of address: UInt64, except keep: Int, version: UInt64) {
        let stillLive = version << 3 | LargePhase.live
        for index in 0..<maximumLargeAllocations where index != keep {
            let state = largeState(index)
            let current = state.pointee.load(ordering: .acquiring)
            let phase = current & LargePhase.mask
            guard phase == LargePhase.freed || phase == LargePhase.releasedByReset,
                largeAddress(index).pointee.load(ordering: .relaxed) == address
            else { continue }
            guard largeState(keep).pointee.load(ordering: .acquiring) == stillLive else { return }
            // Losing this race means someone reused the entry: nothing left to forget.
            // Releasing: a scan that sees the entry empty also sees `largeInserts` bumped.
            _ = state.pointee.compareExchange(
                expected: current, desired: (current >> 3 &+ 1) << 3 | LargePhase.empty,
                successOrdering: .releasing, failureOrdering: .relaxed)
        }
    }

    /// The index of the live entry whose block contains `address`, if any (a snapshot).
    internal func findLiveLargeBlock(containing address: UInt) -> Int? {
        let target = UInt64(address)
        for index in 0..<maximumLargeAllocations {
            let state = largeState(index).pointee.load(ordering: .acquiring)
            guard state & LargePhase.mask == LargePhase.live else { continue }
            let base = largeAddress(index).pointee.load(ordering: .relaxed)
            let size = largeByteCount(index).pointee.load(ordering: .relaxed)
            if target >= base && target - base < size { return index }
        }
        return nil
    }

    /// Frees the large block at `address`, or explains why not.
    internal func deallocateLarge(_ address: UInt) throws(OffHeapError) {
        var inserts = largeInserts.load(ordering: .acquiring)
        while true {
            guard let verdict = try scanToDeallocateLarge(address) else { return }
            // An insert that overlapped the scan may have forgotten the tombstone that gives
            // the verdict after the scan passed the new block's entry: look again.
            let now = largeInserts.load(ordering: .acquiring)
            if verdict == .doubleFree || now == inserts { throw verdict }
            inserts = now
        }
    }

    /// One pass of ``deallocateLarge(_:)``: frees the block and returns `nil`, or returns the
    /// error this pass found (throws only `interiorPointer` and unmapping failures).
    internal func scanToDeallocateLarge(_ address: UInt) throws(OffHeapError) -> OffHeapError? {
        let target = UInt64(address)
        var verdict = OffHeapError.foreignPointer
        for index in 0..<maximumLargeAllocations {
            let state = largeState(index)
            var current = state.pointee.load(ordering: .acquiring)
            while true {
                let phase = current & LargePhase.mask
                let base = largeAddress(index).pointee.load(ordering: .relaxed)
                if phase == LargePhase.live {
                    let size = largeByteCount(index).pointee.load(ordering: .relaxed)
                    if base == target {
                        let version = current >> 3
                        let (exchanged, original) = state.pointee.compareExchange(
                            expected: current, desired: version << 3 | LargePhase.freeing,
                            successOrdering: .acquiring, failureOrdering: .acquiring)
                        guard exchanged else {
                            current = original  // someone freed or reused it: look again
                            continue
                        }
                        try unmapLarge(entry: index, version: version, base: base, size: size,
                                    as: LargePhase.freed)
                        return nil
                    }
                    if target > base && target - base < size { throw .interiorPointer }
                } else if base == target {
                    if phase == LargePhase.freeing {
                        // Another thread is freeing this very block right now.
                        let resetting =
                            cursor.load(ordering: .relaxed) & SlabPool.resettingBit != 0
                        verdict = resetting ? .concurrentReset : .doubleFree
                    }
                    if phase == LargePhase.freed { verdict = .doubleFree }
                    if phase == LargePhase.releasedByReset && verdict != .doubleFree {
                        verdict = .useAfterReset
                    }
                }
                break
            }
        }
        return verdict
    }

    /// Unmaps the block of an entry this thread moved to `freeing`, then publishes the
    /// tombstone. If the kernel refuses, the entry goes back to `live` (nothing changed).
    internal func unmapLarge(
        entry index: Int, version: UInt64, base: UInt64, size: UInt64, as tombstone: UInt64
    ) throws(OffHeapError) {
        let state = largeState(index)
        do {
            try VirtualMemory.release(
                UnsafeMutableRawPointer(bitPattern: UInt(base))!, byteCount: Int(size))
        } catch {
            state.pointee.store(version << 3 | LargePhase.live, ordering: .releasing)
            throw error
        }
        liveLargeCount.wrappingSubtract(1, ordering: .relaxed)
        liveLargeBytes.wrappingSubtract(Int(size), ordering: .relaxed)
        state.pointee.store(version << 3 | tombstone, ordering: .releasing)
    }

    /// Unmaps every live large block (reset). Returns the first failure, if any.
    internal func releaseAllLarge() -> OffHeapError? {
        var failure: OffHeapError?
        for index in 0..<maximumLargeAllocations {
            let state = largeState(index)
            var current = state.pointee.load(ordering: .acquiring)
            while current & LargePhase.mask == LargePhase.live {
                let version = current >> 3
                let (exchanged, original) = state.pointee.compareExchange(
                    expected: current, desired: version << 3 | LargePhase.freeing,
                    successOrdering: .acquiring, failureOrdering: .acquiring)
                guard exchanged else {
                    current = original
                    continue
                }
                let base = largeAddress(index).pointee.load(ordering: .relaxed)
                let size = largeByteCount(index).pointee.load(ordering: .relaxed)
                do {
                    try unmapLarge(entry: index, version: version, base: base, size: size,
                                as: LargePhase.releasedByReset)
                } catch {
                    if failure == nil { failure = error }
                }
                break
            }
        }
        return failure
    }
}
