import COffHeapShims
import Synchronization

/// Process-wide state behind the sticky reader slots of every ``HyalineDomain``: a table of
/// live domains (one row per domain, with a generation) and the pthread key whose destructor
/// gives an exiting thread's sticky slots back. All memory comes from `mmap`.
///
/// Invariant, per row (mirrors `ShardedRegistry`): `state = generation << 32 | active << 31 |
/// pins` (pins < 2³¹), `slots` = the domain's slot array (its region stays mapped while the
/// row is active or pinned).
/// - A domain *claims* a row with one CAS from `active == 0 && pins == 0` to
///   `generation + 1, active` and then stores `slots` (release) before any thread can stamp
///   the row's generation into its table.
/// - A thread that exits *pins* the row with a CAS that requires `active` and the generation
///   its table entry carries; only while pinned does it store 0 into its slot's owner word
///   (release: the slot may be leased again). It unpins with one subtract (release).
/// - A domain's deinit clears `active` with a CAS and waits until `pins == 0` (acquire);
///   afterwards no exiting thread can touch its region, which may then be unmapped.
/// All of this is cold (domain init/deinit, a thread's first enter, thread exit); `enter` only
/// reads the calling thread's own table.
@usableFromInline
internal final class HyalineRuntime: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; shared state is `Atomic` off-heap memory.

    /// Live domains with sticky slots at once; further domains lease a slot per guard.
    @usableFromInline internal static let rowCount = 256
    static let rowBytes = 64
    static let activeBit: UInt64 = 1 << 31
    static let pinMask: UInt64 = (1 << 31) - 1

    /// `nil` only when the process could not map the table or create the pthread key.
    @usableFromInline
    internal static let shared: HyalineRuntime? = try? HyalineRuntime()

    let rows: VirtualRegion
    let key: UInt32

    private init() throws(OffHeapError) {
        rows = try VirtualMemory.reserve(
            byteCount: Self.rowCount * Self.rowBytes, committed: true)
        for offset in stride(from: 0, to: Self.rowCount * Self.rowBytes, by: 8) {
            HyalineDomain.word(rows.base, offset).initialize(to: Atomic(0))
        }
        var key: UInt32 = 0
        let rc = offheap_tls_key_create(&key) { raw in HyalineRuntime.threadExit(table: raw) }
        if rc != 0 {
            try? VirtualMemory.release(rows)
            throw .threadStartFailed(errno: rc)
        }
        self.key = key
    }

    func state(_ row: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        HyalineDomain.word(rows.base, row * Self.rowBytes)
    }

    /// Word `field` of `row`: 1 the domain's slot lines, 2 its header, 3 its records.
    func address(_ row: Int, _ field: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        HyalineDomain.word(rows.base, row * Self.rowBytes + field * 8)
    }

    /// Claims a free row for a domain (its header, slot lines and records); `nil` when every
    /// row is taken (the domain then leases a slot per guard).
    func claim(
        header: UnsafeMutableRawPointer, slots: UnsafeMutableRawPointer,
        records: UnsafeMutableRawPointer
    ) -> (row: Int, generation: UInt64)? {
        for row in 0..<Self.rowCount {
            var current = state(row).pointee.load(ordering: .acquiring)
            while current & (Self.activeBit | Self.pinMask) == 0 {
                var generation = UInt32(truncatingIfNeeded: current >> 32) &+ 1
                if generation == 0 { generation = 1 }
                let (exchanged, original) = state(row).pointee.compareExchange(
                    expected: current, desired: UInt64(generation) << 32 | Self.activeBit,
                    ordering: .acquiringAndReleasing)
                if exchanged {
                    for (field, base) in [(1, slots), (2, header), (3, records)] {
                        address(row, field).pointee.store(
                            UInt64(UInt(bitPattern: base)), ordering: .releasing)
                    }
                    return (row, UInt64(generation))
                }
                current = original
            }
        }
        return nil
    }

    /// Retires of a row that was not active with the caller's generation (a domain retiring
    /// twice, or after its row was claimed again): refused, counted here for tests.
    static let staleRetires = Atomic<Int>(0)

    /// Deactivates `row` if it is still active with `generation` (the claim's), and waits
    /// for exiting threads that pinned it; returns false, changing nothing, otherwise, so a
    /// second retire can never deactivate another domain's claim of the same row.
    @discardableResult
    func retire(_ row: Int, generation: UInt64) -> Bool {
        var current = state(row).pointee.load(ordering: .relaxed)
        while true {
            guard current & Self.activeBit != 0, current >> 32 == generation else {
                Self.staleRetires.add(1, ordering: .relaxed)
                return false
            }
            let (exchanged, original) = state(row).pointee.compareExchange(
                expected: current, desired: current & ~Self.activeBit,
                ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        while state(row).pointee.load(ordering: .acquiring) & Self.pinMask != 0 {
            offheap_yield()
        }
        return true
    }

    /// Pins `row` if it is still active with `generation`; returns the domain's slot lines,
    /// header and records.
    func pin(_ row: Int, generation: UInt64) -> (
        slots: UnsafeMutableRawPointer, header: UnsafeMutableRawPointer,
        records: UnsafeMutableRawPointer
    )? {
        var current = state(row).pointee.load(ordering: .acquiring)
        while current & Self.activeBit != 0, current >> 32 == generation {
            let (exchanged, original) = state(row).pointee.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                // Set before the domain's init returned, so before any entry carried this
                // generation; checked anyway rather than trusted.
                func base(_ field: Int) -> UnsafeMutableRawPointer? {
                    UnsafeMutableRawPointer(
                        bitPattern: UInt(address(row, field).pointee.load(ordering: .acquiring)))
                }
                guard let slots = base(1), let header = base(2), let records = base(3) else {
                    unpin(row)
                    return nil
                }
                return (slots, header, records)
            }
            current = original
        }
        return nil
    }

    func unpin(_ row: Int) {
        state(row).pointee.subtract(1, ordering: .releasing)
    }

    /// The calling thread's table, mapped (and hooked to thread exit) on first use.
    func callingThreadTable() -> HyalineThreadTable? {
        if let raw = ThreadLocalSlot.hyaline.value { return HyalineThreadTable(raw) }
        guard
            let region = try? VirtualMemory.reserve(
                byteCount: HyalineThreadTable.byteCount, committed: true)
        else { return nil }
        // Fresh anonymous memory is zero: no entry is stamped.
        ThreadLocalSlot.hyaline.value = region.base
        _ = offheap_tls_key_set(key, region.base)
        return HyalineThreadTable(region.base)
    }

    /// The pthread key destructor: runs on the exiting thread after its last guard ended.
    static func threadExit(table raw: UnsafeMutableRawPointer) {
        if ThreadLocalSlot.hyaline.value == raw { ThreadLocalSlot.hyaline.value = nil }
        let table = HyalineThreadTable(raw)
        if let runtime = shared {
            for row in 0..<rowCount {
                let entry = table.entry(row)
                let generation = entry[HyalineThreadTable.generation]
                // A still-active entry would mean a guard outlived its thread (guards are not
                // Sendable, so it cannot happen in Swift 6): its slot is then kept, not freed.
                guard generation != 0, entry[HyalineThreadTable.active] == 0,
                    let domain = runtime.pin(row, generation: generation)
                else { continue }
                // Pinned: the domain's region stays mapped. Give the private free records
                // back, then the slot.
                let first = entry[HyalineThreadTable.freeHead]
                if first != 0 {
                    var last = first
                    while true {
                        let next = HyalineDomain.word(
                            domain.records + Int(last - 1) * HyalineDomain.Layout.line,
                            HyalineDomain.Layout.recordFreeNext
                        ).pointee.load(ordering: .relaxed)
                        if next == 0 { break }
                        last = next
                    }
                    HyalineDomain.pushFreeChain(
                        header: domain.header, records: domain.records, first: first, last: last)
                }
                let slot = Int(truncatingIfNeeded: entry[HyalineThreadTable.slot])
                HyalineDomain.word(domain.slots + slot * HyalineDomain.Layout.line,
                    HyalineDomain.Layout.slotOwner
                ).pointee.store(0, ordering: .releasing)
                runtime.unpin(row)
            }
        }
        try? VirtualMemory.release(raw, byteCount: HyalineThreadTable.byteCount)
    }
}

/// One thread's sticky slots, one entry per ``HyalineRuntime`` row, in off-heap memory
/// reached through the initial-exec TLS slot ``ThreadLocalSlot/hyaline``.
///
/// Invariant: only the owning thread reads or writes an entry (its exit hook runs on it
/// too), so every access is a plain load or store. Entry words: `generation` (the row's
/// generation when the slot was leased; 0 = none; a different generation is a stale entry
/// of a dead domain and is overwritten), `slot` (the leased slot index), `active` (1 while a
/// guard of this thread uses the sticky slot; nested guards then lease their own slot),
/// `freeHead`/`freeCount` (the thread's private list of free retire records of this domain,
/// linked by their `freeNext` word: freed batches land here up to the domain's
/// `privateRecordLimit`, and retires take records from here without a CAS; thread exit
/// pushes the list back onto the domain's shared free stack; a dead domain's list dies
/// with it), `chunkHead`/`chunkCount`/`chunkTail` (records retired inside the current
/// sticky guard and not yet pushed onto the stripe; never non-empty outside a guard,
/// because leave publishes the chunk before the head becomes `inactive`), `allocationsLeft`
/// (``HyalineDomain/birthEra()`` calls until this thread advances the era).
@frozen @usableFromInline
internal struct HyalineThreadTable {
    @usableFromInline static let entryBytes = 128
    @usableFromInline static let generation = 0
    @usableFromInline static let slot = 1
    @usableFromInline static let active = 2
    @usableFromInline static let freeHead = 3
    @usableFromInline static let freeCount = 4
    @usableFromInline static let chunkHead = 5
    @usableFromInline static let chunkCount = 6
    @usableFromInline static let chunkTail = 7
    /// ``HyalineDomain/birthEra()`` calls left before this thread advances the era.
    @usableFromInline static let allocationsLeft = 8
    static var byteCount: Int {
        VirtualMemory.roundUp(HyalineRuntime.rowCount * entryBytes, to: VirtualMemory.pageSize)
    }

    @usableFromInline let raw: UnsafeMutableRawPointer

    @inlinable @inline(__always)
    init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    @inlinable @inline(__always)
    func entry(_ row: Int) -> UnsafeMutablePointer<UInt64> {
        (raw + row &* Self.entryBytes).assumingMemoryBound(to: UInt64.self)
    }
}
