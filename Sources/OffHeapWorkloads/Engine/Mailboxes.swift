import COffHeapShims
import OffHeap
import Synchronization

/// The publisher/reader exchange: one atomic cell per mailbox slot holding a slot address
/// (the full address as an integer — no spare bits used) or 0 for empty.
///
/// Invariants: a slot is owned by exactly one party at a time. A publisher writes the slot's
/// pattern, then `exchange`s the address into the cell with acquiring-and-releasing order:
/// the release publishes the pattern to whoever takes the slot next, the acquire makes a
/// displaced slot's state visible to the publisher that takes it back. A reader takes a slot
/// only with `exchange(0)` (acquiring-and-releasing), so two parties can never both own it.
/// Without an SMR domain nobody reads a slot in place. Under Hyaline (``isHyalineCell(_:)``)
/// readers validate slots in place under a guard and the publisher retires displaced slots
/// (see ``HyalineExchange``); in a mixed run the odd cells keep the exchange protocol, and a
/// cell never changes protocol during a run, so no slot is both taken and read in place.
@usableFromInline
internal final class Mailboxes: @unchecked Sendable {
    // @unchecked Sendable: all shared state is the atomic cells and counter described above.
    let cellsPerPublisher: Int
    let publishers: Int
    let cellCount: Int
    let cells: UnsafeMutablePointer<Atomic<UInt64>>
    let finished = Atomic<Int>(0)
    /// Whether any cell goes through a Hyaline domain.
    let hyaline: Bool
    /// Whether only even cells do (odd cells use the exchange).
    let mixed: Bool

    init(publishers: Int, cellsPerPublisher: Int, hyaline: Bool = false, mixed: Bool = false) {
        self.publishers = publishers
        self.cellsPerPublisher = cellsPerPublisher
        self.hyaline = hyaline
        self.mixed = hyaline && mixed
        cellCount = publishers * cellsPerPublisher
        cells = .allocate(capacity: max(cellCount, 1))
        for index in 0..<max(cellCount, 1) { (cells + index).initialize(to: Atomic(0)) }
    }

    deinit {
        cells.deinitialize(count: max(cellCount, 1))
        cells.deallocate()
    }

    /// Whether `cell` (a global index) is read in place under Hyaline; the others are taken
    /// out by exchange. Fixed for the run, so a slot is never handled both ways.
    @inline(__always)
    func isHyalineCell(_ cell: Int) -> Bool { hyaline && (!mixed || cell & 1 == 0) }

    /// Cells under Hyaline.
    var hyalineCellCount: Int {
        hyaline ? (mixed ? (cellCount + 1) / 2 : cellCount) : 0
    }

    /// Puts `slot` into `cell`; returns the slot it displaced, now owned by the caller.
    @inline(__always)
    func publish(_ slot: UnsafeMutableRawPointer, cell: Int) -> UnsafeMutableRawPointer? {
        let old = cells[cell].exchange(
            UInt64(UInt(bitPattern: slot)), ordering: .acquiringAndReleasing)
        return UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: old))
    }

    /// Takes the slot in `cell`, if any; the caller owns it.
    @inline(__always)
    func take(cell: Int) -> UnsafeMutableRawPointer? {
        if cells[cell].load(ordering: .relaxed) == 0 { return nil }
        let bits = cells[cell].exchange(0, ordering: .acquiringAndReleasing)
        return UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: bits))
    }

    func publisherFinished() { finished.add(1, ordering: .releasing) }

    var allPublishersFinished: Bool { finished.load(ordering: .acquiring) == publishers }

    /// After every worker joined: verify and free what is left in the cells.
    /// The calling thread is no worker, so every slot freed here is a cross-thread free.
    func drain<A: FixedSizeAllocator>(into tally: inout WorkerTally, allocator: A, slotSize: Int) {
        for cell in 0..<cellCount {
            guard let p = take(cell: cell) else { continue }
            if slotSize >= SlotPattern.byteCount {
                if let pattern = SlotPattern.read(from: p, byteCount: slotSize) {
                    if pattern.slot != UInt64(cell) { tally.corruption &+= 1 }
                } else {
                    tally.corruption &+= 1
                }
            }
            do throws(OffHeapError) {
                try allocator.deallocate(p)
                tally.crossThreadFrees &+= 1
            } catch {
                tally.count(error)
            }
        }
    }
}
