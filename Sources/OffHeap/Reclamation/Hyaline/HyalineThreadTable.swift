import COffHeapShims
import Synchronization

/// Process-wide state behind the sticky reader slots of every ``HyalineDomain``: a
/// ``GenerationTable`` of live domains (one row per domain). All memory comes from `mmap`.
///
/// Invariant: ``GenerationTable``'s, with payload words 1 = the domain's slot lines,
/// 2 = its header, 3 = its records, stored before `claim` returns (so before any thread
/// stamps the row's generation into its table); the domain's region stays mapped while the
/// row is active or pinned. A thread that exits pins the row with the generation its entry
/// carries, and only while pinned stores 0 into its slot's owner word (release: the slot may
/// be leased again) and pushes its private free records back. A domain's deinit retires the
/// row (waiting for pins) before it unmaps. All of this is cold (domain init/deinit, a
/// thread's first enter, thread exit); `enter` only reads the calling thread's own table.
@usableFromInline
internal final class HyalineRuntime: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; shared state is `Atomic` off-heap memory.

    /// Live domains with sticky slots at once; further domains lease a slot per guard.
    @usableFromInline internal static let rowCount = 256
    static let rowBytes = 64
    static let slotsField = 1, headerField = 2, recordsField = 3

    /// `nil` only when the process could not map the table.
    @usableFromInline
    internal static let shared: HyalineRuntime? = try? HyalineRuntime()

    let rows: OwnedRegion
    let table: GenerationTable

    private init() throws(OffHeapError) {
        rows = try OwnedRegion(byteCount: Self.rowCount * Self.rowBytes, committed: true)
        table = GenerationTable(rows: rows.base, rowCount: Self.rowCount, rowBytes: Self.rowBytes)
    }

    /// Claims a free row for a domain (its header, slot lines and records); `nil` when every
    /// row is taken (the domain then leases a slot per guard).
    func claim(
        header: UnsafeMutableRawPointer, slots: UnsafeMutableRawPointer,
        records: UnsafeMutableRawPointer
    ) -> (row: Int, generation: UInt64)? {
        let claimed = table.claim { row in
            table.storePointer(slots, row, Self.slotsField)
            table.storePointer(header, row, Self.headerField)
            table.storePointer(records, row, Self.recordsField)
        }
        guard let claimed else { return nil }
        return (claimed.row, UInt64(claimed.generation))
    }

    /// Deactivates `row` if it is still active with `generation` (the claim's), and waits
    /// for exiting threads that pinned it; returns false, changing nothing, otherwise, so a
    /// second retire can never deactivate another domain's claim of the same row.
    @discardableResult
    func retire(_ row: Int, generation: UInt64) -> Bool {
        table.retire(row, generation: UInt32(truncatingIfNeeded: generation))
    }

    /// Pins `row` if it is still active with `generation`; returns the domain's slot lines,
    /// header and records. Balance with ``unpin(_:)``.
    func pin(_ row: Int, generation: UInt64) -> (
        slots: UnsafeMutableRawPointer, header: UnsafeMutableRawPointer,
        records: UnsafeMutableRawPointer
    )? {
        // A generation that does not fit 32 bits was never a claim's.
        guard generation >> 32 == 0,
            table.pin(row, generation: UInt32(truncatingIfNeeded: generation))
        else { return nil }
        // Stored before the domain's init returned, so before any entry carried this
        // generation; checked anyway rather than trusted.
        guard let slots = table.pointer(row, Self.slotsField),
            let header = table.pointer(row, Self.headerField),
            let records = table.pointer(row, Self.recordsField)
        else {
            table.unpin(row)
            return nil
        }
        return (slots, header, records)
    }

    func unpin(_ row: Int) { table.unpin(row) }

    /// The calling thread's table, mapped (and hooked to thread exit) on first use.
    func callingThreadTable() -> HyalineThreadTable? {
        if let raw = ThreadLocalSlot.hyaline.value { return HyalineThreadTable(raw) }
        guard
            let region = try? VirtualMemory.reserve(
                byteCount: HyalineThreadTable.byteCount, committed: true)
        else { return nil }
        // Without the exit teardown the slots it leases would never be given back.
        let teardown: ThreadExitRegistry.Teardown = { HyalineRuntime.threadExit(table: $0) }
        guard ThreadExitRegistry.shared.arm(.hyaline, teardown: teardown) else {
            try? VirtualMemory.release(region)
            return nil
        }
        // Fresh anonymous memory is zero: no entry is stamped.
        ThreadLocalSlot.hyaline.value = region.base
        return HyalineThreadTable(region.base)
    }

    /// The thread-exit teardown (``ThreadExitRegistry``), with the exiting thread's table:
    /// runs after the thread's last guard ended.
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
