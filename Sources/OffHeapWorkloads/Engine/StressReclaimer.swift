import COffHeapShims
import OffHeap
import Synchronization

/// The counters of a ``StressReclaimer`` (non-generic, so ``HyalineExchange`` can hold one).
///
/// Invariant: every counter is an independent relaxed atomic statistic, read only after the
/// domain is quiescent (all workers joined, domain flushed), when the reads are exact.
class StressReclaimerBase: HyalineReclaimer, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is atomic.
    let counters: UnsafeMutablePointer<Atomic<UInt64>>
    /// Slots the exchange may hold (the free fraction's denominator).
    let budget: Int
    /// Slots allocated for Hyaline cells minus slots reclaimed (may dip below 0 briefly).
    let inUse = Atomic<Int>(0)

    static var reclaimed: Int { 0 }
    static var crossThread: Int { 8 }
    static var corruption: Int { 16 }
    static var errors: Int { 24 }

    init(budget: Int) {
        self.budget = max(budget, 1)
        counters = .allocate(capacity: 32)
        for index in 0..<32 { (counters + index).initialize(to: Atomic(0)) }
        super.init()
    }

    deinit {
        counters.deinitialize(count: 32)
        counters.deallocate()
    }

    func bump(_ counter: Int) { counters[counter].add(1, ordering: .relaxed) }
    func value(_ counter: Int) -> UInt64 { counters[counter].load(ordering: .relaxed) }

    var reclaimedCount: UInt64 { value(Self.reclaimed) }
    var crossThreadCount: UInt64 { value(Self.crossThread) }
    var corruptionCount: UInt64 { value(Self.corruption) }
    var errorCount: UInt64 { value(Self.errors) }

    /// A publisher allocated a slot for a Hyaline cell.
    func noteAllocated() { inUse.add(1, ordering: .relaxed) }

    override func didReclaim(count: Int) { inUse.subtract(count, ordering: .relaxed) }

    override var freeFraction: Double {
        let held = max(0, inUse.load(ordering: .relaxed))
        return max(0, 1 - Double(held) / Double(budget))
    }
}

/// Hyaline's reclaimer for the stress hammer: before a retired slot goes back to the
/// allocator it checks the publisher's pattern (a slot changed while retired, or handed to
/// someone else meanwhile, is corruption), and counts a cross-thread free when the thread
/// reclaiming it is not the lane that allocated it (reclamation runs on whichever thread
/// drops a batch's last reference: usually a reader, or the supervisor's final flush).
final class StressReclaimer<A: FixedSizeAllocator>: StressReclaimerBase, @unchecked Sendable {
    // @unchecked Sendable: the allocator is thread-safe; the counters are atomic.
    let allocator: A
    let slotSize: Int
    let threads: UInt64

    init(_ allocator: A, threads: Int, budget: Int) {
        self.allocator = allocator
        self.slotSize = allocator.slotSize
        self.threads = UInt64(threads)
        super.init(budget: budget)
    }

    override func reclaim(_ pointer: UnsafeMutableRawPointer) {
        var publisher: UInt64?
        if slotSize >= SlotPattern.byteCount {
            if let pattern = SlotPattern.read(from: pointer, byteCount: slotSize),
                pattern.owner < threads
            {
                publisher = pattern.owner
            } else {
                bump(Self.corruption)
            }
        }
        do throws(OffHeapError) {
            try allocator.deallocate(pointer)
            bump(Self.reclaimed)
            if let publisher, StressLane.current != publisher { bump(Self.crossThread) }
        } catch {
            bump(Self.errors)
        }
    }
}
