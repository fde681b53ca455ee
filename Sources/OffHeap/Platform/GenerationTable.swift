import COffHeapShims
import Synchronization

/// Rows that owners claim and give up while other threads may still hold a stale row index:
/// a row's *generation* tells the live claim from a dead one of the same row. Per-thread
/// state stamped with a generation reaches the owner's memory only through ``pin(_:generation:)``.
///
/// Used by ``ShardedRegistry`` (one row per live ``ShardedFreeList``) and ``HyalineRuntime``
/// (one row per live ``HyalineDomain`` with sticky slots); their thread-exit processing pins.
///
/// Invariant, per row: word 0 is `state = generation << 32 | active << 31 | pins`
/// (pins < 2³¹, generation never 0); words 1... are the owner's payload.
/// - *Claim*: one CAS from `active == 0 && pins == 0` to `generation + 1, active`; the
///   claimer stores its payload (release) before the generation is stamped anywhere.
/// - *Pin*: a CAS adding one pin that requires `active` and the caller's generation; only
///   while pinned may the caller load the payload (acquire) and use what it names.
///   *Unpin*: one subtract (release).
/// - *Retire*: a CAS clearing `active` that requires the claim's generation (a stale retire
///   changes nothing), then a wait until `pins == 0` (acquire); afterwards no thread
///   reaches the owner's memory through the row, and the row may be claimed again.
/// All of these are cold paths (construction, thread exit, destruction).
///
/// ```swift
/// let table = GenerationTable(rows: base, rowCount: 4, rowBytes: 64)
/// let claim = table.claim { row in table.storePointer(header, row, 1) }!
/// if table.pin(claim.row, generation: claim.generation) { /* use header */ table.unpin(claim.row) }
/// table.retire(claim.row, generation: claim.generation)
/// ```
@usableFromInline
internal struct GenerationTable: @unchecked Sendable {
    // @unchecked Sendable: a pointer to off-heap rows the owner keeps mapped; all `Atomic`.

    static let activeBit: UInt64 = 1 << 31
    static let pinMask: UInt64 = (1 << 31) - 1

    /// Retires refused because the row was not active with the caller's generation (an owner
    /// retiring twice, or after its row was claimed again).
    static let staleRetires = Atomic<Int>(0)

    let rows: UnsafeMutableRawPointer
    let rowCount: Int
    let rowBytes: Int

    /// A table over `rowCount * rowBytes` bytes at `rows`, which must stay mapped while the
    /// table is used; every word is set to 0 (no row claimed).
    init(rows: UnsafeMutableRawPointer, rowCount: Int, rowBytes: Int) {
        precondition(rowBytes >= 8 && rowBytes % 8 == 0, "a row holds whole 8-byte words")
        self.rows = rows
        self.rowCount = rowCount
        self.rowBytes = rowBytes
        let words = rows.bindMemory(to: Atomic<UInt64>.self, capacity: rowCount * rowBytes / 8)
        for index in 0..<(rowCount * rowBytes / 8) { (words + index).initialize(to: Atomic(0)) }
    }

    /// Word `field` of `row` (0: the state; 1...: payload).
    @inline(__always)
    func word(_ row: Int, _ field: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        assert(row >= 0 && row < rowCount && field >= 0 && field * 8 < rowBytes)
        return (rows + (row &* rowBytes &+ field &* 8)).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always)
    func state(_ row: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { word(row, 0) }

    /// Claims the first free row and runs `publish(row)` (which stores the payload) before
    /// returning; `nil` when every row is claimed or pinned. `publish` cannot fail: the row
    /// is already claimed when it runs.
    func claim(_ publish: (Int) -> Void) -> (row: Int, generation: UInt32)? {
        for row in 0..<rowCount {
            var current = state(row).pointee.load(ordering: .acquiring)
            while current & (Self.activeBit | Self.pinMask) == 0 {
                var generation = UInt32(truncatingIfNeeded: current >> 32) &+ 1
                if generation == 0 { generation = 1 }
                let (exchanged, original) = state(row).pointee.compareExchange(
                    expected: current, desired: UInt64(generation) << 32 | Self.activeBit,
                    ordering: .acquiringAndReleasing)
                if exchanged {
                    publish(row)
                    return (row, generation)
                }
                current = original
            }
        }
        return nil
    }

    /// Pins `row` if it is still active with `generation`. Balance a `true` with
    /// ``unpin(_:)``.
    func pin(_ row: Int, generation: UInt32) -> Bool {
        var current = state(row).pointee.load(ordering: .acquiring)
        while current & Self.activeBit != 0,
            UInt32(truncatingIfNeeded: current >> 32) == generation
        {
            let (exchanged, original) = state(row).pointee.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func unpin(_ row: Int) {
        let before = state(row).pointee.subtract(1, ordering: .releasing).oldValue
        assert(before & Self.pinMask != 0, "unpin without a pin")
    }

    /// Deactivates `row` if it is still active with `generation` and waits for the threads
    /// that pinned it; returns false, changing nothing, otherwise.
    @discardableResult
    func retire(_ row: Int, generation: UInt32) -> Bool {
        var current = state(row).pointee.load(ordering: .relaxed)
        while true {
            guard current & Self.activeBit != 0,
                UInt32(truncatingIfNeeded: current >> 32) == generation
            else {
                Self.staleRetires.add(1, ordering: .relaxed)
                return false
            }
            let (exchanged, original) = state(row).pointee.compareExchange(
                expected: current, desired: current & ~Self.activeBit,
                ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        // A thread pinned before the CAS above may still use the owner's memory: wait for it.
        while state(row).pointee.load(ordering: .acquiring) & Self.pinMask != 0 {
            offheap_yield()
        }
        return true
    }

    /// Stores `pointer` as payload word `field` of `row` (release); call from `claim`'s
    /// `publish`.
    func storePointer(_ pointer: UnsafeRawPointer, _ row: Int, _ field: Int) {
        word(row, field).pointee.store(UInt64(UInt(bitPattern: pointer)), ordering: .releasing)
    }

    /// Payload word `field` of a pinned `row` as a pointer (acquire); `nil` if never stored.
    func pointer(_ row: Int, _ field: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: UInt(word(row, field).pointee.load(ordering: .acquiring)))
    }
}
