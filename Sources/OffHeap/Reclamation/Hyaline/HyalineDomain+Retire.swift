import Synchronization

// Retirement: pending stripes, batch flushes, batch frees, and the record free stack.
extension HyalineDomain {
    @usableFromInline static let lowMask: UInt64 = 0xFFFF_FFFF

    @usableFromInline
    internal func retire(
        _ pointer: UnsafeMutableRawPointer, birthEra: UInt64, reclaimer: HyalineReclaimerID,
        slot: Int, cache: UnsafeMutablePointer<UInt64>?
    ) throws(OffHeapError) {
        guard let owner = reclaimerReference(reclaimer) else {
            throw .invalidConfiguration(reason: "unknown reclaimer id")
        }
        let owned = owner._withUnsafeGuaranteedRef { $0.contains(pointer) }
        guard owned else { throw .foreignPointer }
        // A guard without a private list (nested, or no runtime row) takes the record it
        // reserved in its slot, if any.
        let record: UInt64
        if cache == nil, let reserved = takeSlotReservation(slot) {
            record = reserved
        } else {
            record = try allocateRecord(cache)
        }
        // Last, so that no failure can follow a reclaimer's mark of a retired node.
        let fresh = owner._withUnsafeGuaranteedRef { $0.willRetire(pointer) }
        guard fresh else {
            Self.pushFreeChain(header: header, records: records, first: record, last: record)
            throw .doubleFree
        }
        recordWord(record, Layout.recordPointer).pointee.store(
            UInt64(UInt(bitPattern: pointer)), ordering: .relaxed)
        recordWord(record, Layout.recordBirth).pointee.store(birthEra, ordering: .relaxed)
        recordWord(record, Layout.recordReclaimer).pointee.store(
            UInt64(reclaimer.rawValue), ordering: .relaxed)

        // Counted before the record is published (single writer: the slot's user).
        let counter = slotWord(slot, Layout.slotRetired)
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ 1, ordering: .releasing)
        guard let cache else {
            push(record, last: record, count: 1, slot: slot, cache: nil)
            return
        }
        // The sticky slot's private chunk (newest first, linked by batchNext): published
        // with one CAS once it holds `chunkLimit` records, once the stripe could reach the
        // threshold with it, or when the guard leaves.
        let held = cache[HyalineThreadTable.chunkCount]
        if held == 0 { cache[HyalineThreadTable.chunkTail] = record }
        recordWord(record, Layout.recordBatchNext).pointee.store(
            cache[HyalineThreadTable.chunkHead], ordering: .relaxed)
        cache[HyalineThreadTable.chunkHead] = record
        cache[HyalineThreadTable.chunkCount] = held &+ 1
        let pending = stripeWord(slot & stripeMask, Layout.stripeHead).pointee.load(
            ordering: .relaxed) >> 32
        if held &+ 1 < Self.chunkLimit && pending &+ held &+ 1 < UInt64(batchThreshold) {
            return
        }
        publishChunk(slot: slot, cache: cache)
    }

    /// Makes sure the calling guard holds a free record, so that its next `retire` cannot
    /// fail for want of one: in the thread's private list (sticky slot), or, for a guard
    /// without one (nested, or a domain without a runtime row), in its slot's reservation
    /// word (see ``reserveSlotRecord(_:)``).
    ///
    /// - Throws: ``OffHeapError/retireRecordsExhausted(recordCapacity:)``; nothing changed.
    @inlinable
    internal func reserveRecord(
        slot: Int, cache: UnsafeMutablePointer<UInt64>?
    ) throws(OffHeapError) {
        guard let cache else { return try reserveSlotRecord(slot) }
        guard cache[HyalineThreadTable.freeCount] == 0 else { return }
        let record = try allocateRecord(nil)
        recordWord(record, Layout.recordFreeNext).pointee.store(
            cache[HyalineThreadTable.freeHead], ordering: .relaxed)
        cache[HyalineThreadTable.freeHead] = record
        cache[HyalineThreadTable.freeCount] = 1
    }

    /// Reserves a record in `slot`'s reservation word for a guard that leased the slot for
    /// itself (no private list). Single writer: the slot's current user, which owns the slot
    /// through its owner word until it leaves, and gives the reservation back then
    /// (``releaseSlotReservation(_:)``), so a slot is never handed on with one.
    @usableFromInline
    internal func reserveSlotRecord(_ slot: Int) throws(OffHeapError) {
        let reserved = slotWord(slot, Layout.slotReserved)
        guard reserved.pointee.load(ordering: .relaxed) == 0 else { return }
        reserved.pointee.store(try allocateRecord(nil), ordering: .relaxed)
    }

    /// Takes `slot`'s reserved record (the slot's user only), or `nil` if it has none.
    @usableFromInline
    internal func takeSlotReservation(_ slot: Int) -> UInt64? {
        let reserved = slotWord(slot, Layout.slotReserved)
        let record = reserved.pointee.load(ordering: .relaxed)
        guard record != 0 else { return nil }
        reserved.pointee.store(0, ordering: .relaxed)
        return record
    }

    /// Gives `slot`'s unused reservation back to the shared free stack (at leave, by the
    /// slot's user, before the slot's owner word is cleared).
    @usableFromInline
    internal func releaseSlotReservation(_ slot: Int) {
        guard let record = takeSlotReservation(slot) else { return }
        Self.pushFreeChain(header: header, records: records, first: record, last: record)
    }

    /// Records a sticky slot's user collects before publishing them to its stripe.
    @usableFromInline static var chunkLimit: UInt64 { 8 }

    /// Pushes the calling thread's private chunk (if any) onto its slot's stripe.
    @usableFromInline
    internal func publishChunk(slot: Int, cache: UnsafeMutablePointer<UInt64>) {
        let count = cache[HyalineThreadTable.chunkCount]
        guard count != 0 else { return }
        let first = cache[HyalineThreadTable.chunkHead]
        let last = cache[HyalineThreadTable.chunkTail]
        cache[HyalineThreadTable.chunkHead] = 0
        cache[HyalineThreadTable.chunkTail] = 0
        cache[HyalineThreadTable.chunkCount] = 0
        push(first, last: last, count: count, slot: slot, cache: cache)
    }

    /// Pushes the chain `first…last` (`count` records, linked by `batchNext`) onto the
    /// stripe of `slot` with one CAS, and flushes the stripe if that made it a full batch.
    @usableFromInline
    internal func push(
        _ first: UInt64, last: UInt64, count: UInt64, slot: Int,
        cache: UnsafeMutablePointer<UInt64>?
    ) {
        let stripe = slot & stripeMask
        let head = stripeWord(stripe, Layout.stripeHead)
        var old = head.pointee.load(ordering: .relaxed)
        var new: UInt64
        while true {
            recordWord(last, Layout.recordBatchNext).pointee.store(
                old & Self.lowMask, ordering: .relaxed)
            new = ((old >> 32) &+ count) << 32 | first
            let (done, seen) = head.pointee.compareExchange(
                expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done { break }
            old = seen
        }
        let total = Int(truncatingIfNeeded: new >> 32)
        assert(total <= recordCapacity, "a pending stripe holds more records than exist")
        if total >= batchThreshold && total > readerHighWater {
            // Detach only if the head is still exactly (total, first): the list then has
            // exactly `total` records.
            let (detached, _) = head.pointee.compareExchange(
                expected: new, desired: 0, ordering: .acquiringAndReleasing)
            if detached { flush(first, count: total, stripe: stripe, cache: cache) }
        }
    }

    @inlinable
    internal func reclaimerReference(_ id: HyalineReclaimerID) -> Unmanaged<HyalineReclaimer>? {
        guard Int(id.rawValue) < Layout.maxReclaimers else { return nil }
        let bits = word(Layout.reclaimers + Int(id.rawValue) * 8).pointee.load(
            ordering: .acquiring)
        guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(bits)) else { return nil }
        return Unmanaged<HyalineReclaimer>.fromOpaque(raw)
    }

    /// Detaches and flushes every stripe (short batches are padded). Used by the
    /// controller and by callers relieving pool pressure.
    @usableFromInline
    internal func flushAllStripes(cache: UnsafeMutablePointer<UInt64>?) {
        for stripe in 0...stripeMask {
            let head = stripeWord(stripe, Layout.stripeHead)
            let detached = head.pointee.exchange(0, ordering: .acquiringAndReleasing)
            let first = detached & Self.lowMask
            if first != 0 {
                flush(
                    first, count: Int(truncatingIfNeeded: detached >> 32), stripe: stripe,
                    cache: cache)
            }
        }
    }

    /// Enters, flushes every stripe, leaves: nodes retired so far become reclaimable as soon
    /// as the readers inside now have left. Call it when an allocation finds the pool
    /// exhausted. Returns `false` when the domain is destroyed or has no free slot.
    @discardableResult
    public func reclaimPending() -> Bool { reclaimPending(retaining: true) }

    /// `retaining: false` only for callers that keep the domain alive throughout (the
    /// controller thread, which the domain joins before it is torn down).
    @discardableResult
    internal func reclaimPending(retaining: Bool) -> Bool {
        do {
            let guardian = try enter(retaining: retaining)
            guardian.flushPending()
            return true
        } catch {
            return false
        }
    }

    /// Inserts a detached list of `count` records (linked by `batchNext`) as one batch.
    @usableFromInline
    internal func flush(
        _ list: UInt64, count: Int, stripe: Int, cache: UnsafeMutablePointer<UInt64>?
    ) {
        var first = list
        var total = count
        // k is read (sequentially consistent) before the scan: a slot leased later was
        // entered after the nodes were unlinked and cannot hold them.
        let k = readerHighWater
        var padded = 0
        while total < k + 1 {
            guard let dummy = try? allocateRecord(cache) else {
                // No record for padding: give the list back to its stripe unflushed.
                pushBack(first, count: total, stripe: stripe)
                return
            }
            recordWord(dummy, Layout.recordPointer).pointee.store(0, ordering: .relaxed)
            recordWord(dummy, Layout.recordBirth).pointee.store(.max, ordering: .relaxed)
            recordWord(dummy, Layout.recordBatchNext).pointee.store(first, ordering: .relaxed)
            first = dummy
            total += 1
            padded += 1
        }
        if padded > 0 { word(Layout.padding).pointee.add(UInt64(padded), ordering: .relaxed) }

        // Record 0 carries the count; every record points at it.
        var minBirth = UInt64.max
        var current = first
        while current != 0 {
            recordWord(current, Layout.recordBatch).pointee.store(first, ordering: .relaxed)
            minBirth = min(
                minBirth, recordWord(current, Layout.recordBirth).pointee.load(ordering: .relaxed))
            current = recordWord(current, Layout.recordBatchNext).pointee.load(ordering: .relaxed)
        }
        recordWord(first, Layout.recordRefs).pointee.store(0, ordering: .relaxed)
        // Litmus: SB with protect(): W era (after the unlinks); R access below vs the reader's W
        // access; R link. seq_cst forbids the reader missing the new era while we miss its access.
        word(Layout.era).pointee.add(1, ordering: .sequentiallyConsistent)

        var insert = recordWord(first, Layout.recordBatchNext).pointee.load(ordering: .relaxed)
        var inserted: UInt64 = 0
        for slot in 0..<min(k, maximumReaders) where insert != 0 {
            let head = slotWord(slot, Layout.slotHead)
            // Litmus: SB with publish(): W link (unlink, by the caller); R head here vs W head; R
            // link.
            #if OFFHEAP_MUTANTS
                var old = mutantScanLoad(head)
            #else
                var old = head.pointee.load(ordering: .sequentiallyConsistent)
            #endif
            if old >= Layout.leaving { continue }
            // Litmus: SB, the load half against protect()'s W access (see the era add above).
            let access = slotWord(slot, Layout.slotAccess).pointee.load(
                ordering: .sequentiallyConsistent)
            if access < minBirth { continue }
            let following = recordWord(insert, Layout.recordBatchNext).pointee.load(
                ordering: .relaxed)
            while old < Layout.leaving {
                recordWord(insert, Layout.recordSlotNext).pointee.store(old, ordering: .relaxed)
                // RMW on the slot head: atomic against leave()'s exchange; seq_cst keeps the insert
                // in the single order of the SB pairs above. Not weakened.
                let (done, seen) = head.pointee.compareExchange(
                    expected: old, desired: insert, ordering: .sequentiallyConsistent)
                if done {
                    inserted += 1
                    insert = following
                    break
                }
                old = seen
            }
        }
        word(Layout.batches).pointee.add(1, ordering: .relaxed)
        let before = recordWord(first, Layout.recordRefs).pointee.wrappingAdd(
            inserted, ordering: .acquiringAndReleasing
        ).oldValue
        // Only readers holding one of the `inserted` records can have decremented so far.
        assert(
            inserted <= UInt64(maximumReaders)
                && Int64(bitPattern: before) <= 0 && Int64(bitPattern: before) >= -Int64(inserted),
            "a batch reference count out of range")
        if before &+ inserted == 0 { freeBatch(first, cache: cache) }
    }

    internal func pushBack(_ first: UInt64, count: Int, stripe: Int) {
        var last = first
        while true {
            let next = recordWord(last, Layout.recordBatchNext).pointee.load(ordering: .relaxed)
            if next == 0 { break }
            last = next
        }
        let head = stripeWord(stripe, Layout.stripeHead)
        var old = head.pointee.load(ordering: .relaxed)
        while true {
            recordWord(last, Layout.recordBatchNext).pointee.store(
                old & Self.lowMask, ordering: .relaxed)
            let desired = ((old >> 32) &+ UInt64(count)) << 32 | first
            let (done, seen) = head.pointee.compareExchange(
                expected: old, desired: desired, ordering: .acquiringAndReleasing)
            if done { return }
            old = seen
        }
    }

    /// Hands every user pointer of a batch (or of a pending list: both are linked by
    /// `batchNext`) to its reclaimer and returns the records to the calling thread's private
    /// free list (`cache`, while it holds fewer than `privateRecordLimit`) or to the shared
    /// free stack.
    @usableFromInline
    internal func freeBatch(_ first: UInt64, cache: UnsafeMutablePointer<UInt64>?) {
        var current = first
        var last = first
        var reclaimed: UInt64 = 0
        var records = 0
        // Consecutive nodes of one reclaimer form a run, reported by `didReclaim(count:)`.
        var run: Unmanaged<HyalineReclaimer>?
        var runCount = 0
        while current != 0 {
            let next = recordWord(current, Layout.recordBatchNext).pointee.load(ordering: .relaxed)
            let bits = recordWord(current, Layout.recordPointer).pointee.load(ordering: .relaxed)
            if let pointer = UnsafeMutableRawPointer(bitPattern: UInt(bits)) {
                let id = HyalineReclaimerID(
                    rawValue: UInt32(truncatingIfNeeded: recordWord(
                        current, Layout.recordReclaimer
                    ).pointee.load(ordering: .relaxed)))
                if let owner = reclaimerReference(id) {
                    if let previous = run, previous.toOpaque() != owner.toOpaque() {
                        let count = runCount
                        previous._withUnsafeGuaranteedRef { $0.didReclaim(count: count) }
                        runCount = 0
                    }
                    run = owner
                    owner._withUnsafeGuaranteedRef { $0.reclaim(pointer) }
                    runCount &+= 1
                }
                reclaimed += 1
            }
            recordWord(current, Layout.recordFreeNext).pointee.store(next, ordering: .relaxed)
            last = current
            current = next
            records &+= 1
        }
        if let run, runCount > 0 {
            let count = runCount
            run._withUnsafeGuaranteedRef { $0.didReclaim(count: count) }
        }
        word(Layout.reclaimed).pointee.add(reclaimed, ordering: .releasing)
        // Only if the whole batch fits: a private list never exceeds `privateRecordLimit`
        // (appending whenever it was below the limit let it reach limit − 1 + batch).
        if let cache,
            Int(truncatingIfNeeded: cache[HyalineThreadTable.freeCount]) &+ records
                <= privateRecordLimit
        {
            recordWord(last, Layout.recordFreeNext).pointee.store(
                cache[HyalineThreadTable.freeHead], ordering: .relaxed)
            cache[HyalineThreadTable.freeHead] = first
            cache[HyalineThreadTable.freeCount] &+= UInt64(records)
            return
        }
        Self.pushFreeChain(header: header, records: self.records, first: first, last: last)
    }

    /// Pushes the chain `first…last` (linked by `freeNext`) onto the shared free stack with
    /// one CAS. Static: the thread-exit hook gives a private free list back this way.
    internal static func pushFreeChain(
        header: UnsafeMutableRawPointer, records: UnsafeMutableRawPointer,
        first: UInt64, last: UInt64
    ) {
        let lastNext = word(records + Int(truncatingIfNeeded: last &- 1) &* Layout.line,
            Layout.recordFreeNext)
        let free = word(header, Layout.recordFree)
        var old = free.pointee.load(ordering: .relaxed)
        while true {
            lastNext.pointee.store(old & lowMask, ordering: .relaxed)
            let desired = ((old >> 32) &+ 1) << 32 | first
            let (done, seen) = free.pointee.compareExchange(
                expected: old, desired: desired, ordering: .acquiringAndReleasing)
            if done { return }
            old = seen
        }
    }

    /// A free record (`index + 1`): from the calling thread's private free list (`cache`,
    /// owner-only, plain loads and stores) if it has one, else from the shared free stack,
    /// whose head packs `(tag << 32) | ref`; the
    /// tag changes on every successful CAS, so a pop that read a stale `freeNext` fails.
    /// Records never return to the kernel while the domain lives, so reading `freeNext` of a
    /// record that another thread just popped is harmless.
    @usableFromInline
    internal func allocateRecord(_ cache: UnsafeMutablePointer<UInt64>?) throws(OffHeapError)
        -> UInt64
    {
        if let cache {
            let first = cache[HyalineThreadTable.freeHead]
            if first != 0 {
                assert(cache[HyalineThreadTable.freeCount] >= 1, "a private free list longer than its count")
                cache[HyalineThreadTable.freeHead] = recordWord(
                    first, Layout.recordFreeNext).pointee.load(ordering: .relaxed)
                cache[HyalineThreadTable.freeCount] &-= 1
                return first
            }
        }
        let free = word(Layout.recordFree)
        var old = free.pointee.load(ordering: .acquiring)
        while true {
            let first = old & Self.lowMask
            if first == 0 { break }
            let next = recordWord(first, Layout.recordFreeNext).pointee.load(ordering: .relaxed)
            let desired = ((old >> 32) &+ 1) << 32 | next
            let (done, seen) = free.pointee.compareExchange(
                expected: old, desired: desired, ordering: .acquiringAndReleasing)
            if done { return first }
            old = seen
        }
        let index = word(Layout.recordBump).pointee.add(1, ordering: .relaxed).oldValue
        guard index < UInt64(recordCapacity) else {
            throw .retireRecordsExhausted(recordCapacity: recordCapacity)
        }
        let ref = index + 1
        for offset in stride(from: 0, to: Layout.line, by: 8) {
            recordWord(ref, offset).initialize(to: Atomic(0))
        }
        return ref
    }

    /// Frees every pending record and every unreclaimed batch. Only with no reader inside.
    internal func reclaimEverything() {
        for stripe in 0...stripeMask {
            let detached = stripeWord(stripe, Layout.stripeHead).pointee.exchange(
                0, ordering: .acquiringAndReleasing)
            let first = detached & Self.lowMask
            if first != 0 { freeBatch(first, cache: nil) }
        }
    }
}
