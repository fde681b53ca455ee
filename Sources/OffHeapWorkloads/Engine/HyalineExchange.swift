import COffHeapShims
import OffHeap
import Synchronization

/// The publisher/reader exchange under Hyaline: readers never own a published slot, they
/// read it in place while a guard protects it; a publisher that replaces a slot retires the
/// old one, and the domain hands it back to the allocator (through ``StressReclaimer``, which
/// checks its pattern first) once no reader can hold it.
///
/// Invariants: a Hyaline mailbox cell is written only by its publisher (exchange, acquiring
/// and releasing: the release publishes the slot's pattern, written before); readers load
/// those cells only through ``HyalineGuard/protect(_:)`` (sequentially consistent), so every
/// slot a reader reaches stays allocated and unmodified until its guard ends. A displaced
/// slot is retired with the era read just before it was published (its birth era), exactly
/// once, by the publisher that displaced it. After all workers joined, ``finish()`` flushes
/// the domain so every retired slot is reclaimed; the remaining count is reported.
final class HyalineExchange: @unchecked Sendable {
    // @unchecked Sendable: the domain and the reclaimer are thread-safe; both immutable.
    let domain: HyalineDomain
    let reclaimer: HyalineReclaimerID
    let checker: StressReclaimerBase
    /// Highest unreclaimed count a `stalled` worker saw while inside (−1: no such worker).
    let stalledPeak = Atomic<Int>(-1)

    init(domain: HyalineDomain, reclaimer: HyalineReclaimerID, checker: StressReclaimerBase) {
        self.domain = domain
        self.reclaimer = reclaimer
        self.checker = checker
    }

    /// A domain with room for every worker's guard (plus slack) whose reclaimer verifies
    /// and returns slots to `allocator`, measuring its free fraction against `budget`
    /// slots; with `controller`, the domain runs its PI threshold controller. (A static
    /// factory: Embedded Swift rejects generic initialisers on classes.)
    static func make<A: FixedSizeAllocator>(
        _ allocator: A, threads: Int, budget: Int, controller: Bool
    ) throws(OffHeapError) -> HyalineExchange {
        let domain = try HyalineDomain(
            configuration: HyalineDomain.Configuration(
                maximumReaders: threads * 2 + 2,
                controller: controller ? HyalineThresholdController.Configuration() : nil))
        let checker = StressReclaimer(allocator, threads: threads, budget: budget)
        let reclaimer = try domain.register(checker)
        return HyalineExchange(domain: domain, reclaimer: reclaimer, checker: checker)
    }

    /// What the domain did, read once every worker joined.
    struct Ending {
        var unreclaimed: UInt64 = 0
        var peak: UInt64 = 0
        var retired: UInt64 = 0
        var reclaimed: UInt64 = 0
        var reclaimCrossThread: UInt64 = 0
        var reclaimCorruption: UInt64 = 0
        var reclaimErrors: UInt64 = 0
        var controllerTicks: UInt64 = 0
        var controllerFlushes: UInt64 = 0
        var controllerLowestThreshold: Int?
    }

    /// Reclaims everything retired (no reader is inside any more) and tears the domain down;
    /// returns its figures (`unreclaimed`: what even the final flush could not reclaim).
    func finish() -> Ending {
        var end = Ending()
        let before = domain.statistics
        end.peak = before.unreclaimed
        if let controller = domain.thresholdController {
            end.controllerTicks = controller.ticks
            end.controllerFlushes = controller.forcedFlushes
            let lowest = controller.lowestThreshold
            end.controllerLowestThreshold = lowest == Int.max ? nil : lowest
        }
        // The controller thread's forced flushes enter the domain: one in progress would pin
        // what this flush publishes, and the count below would include it (47 nodes once, in
        // a TSan race loop). Stopped, nobody is inside and the flush reclaims everything.
        domain.stopController()
        domain.reclaimPending()
        let after = domain.statistics
        end.unreclaimed = after.unreclaimed
        end.retired = after.retired
        do throws(OffHeapError) { try domain.destroy() } catch {}
        end.reclaimed = checker.reclaimedCount
        end.reclaimCrossThread = checker.crossThreadCount
        end.reclaimCorruption = checker.corruptionCount
        end.reclaimErrors = checker.errorCount
        return end
    }
}
