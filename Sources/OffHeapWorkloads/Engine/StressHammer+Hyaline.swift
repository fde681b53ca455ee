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

extension StressWorker {
    /// Publisher under Hyaline: allocate, write, publish; retire the displaced slot (in a
    /// mixed run, odd cells follow the exchange protocol instead: the displaced slot is
    /// verified and freed here).
    mutating func publishUnderHyaline(into board: Mailboxes, rank: Int, hyaline: HyalineExchange) {
        let cells = board.cellsPerPublisher
        let births = UnsafeMutablePointer<UInt64>.allocate(capacity: cells)
        births.initialize(repeating: 0, count: cells)
        defer { births.deallocate() }
        var done: UInt64 = 0
        var cell = 0
        var budget = control.remaining(lane: lane, done: 0)
        while budget > 0 && !tally.gaveUp {
            let token: HyalineGuard
            do throws(OffHeapError) { token = try hyaline.domain.enter() } catch {
                tally.count(error)
                offheap_yield()
                budget = control.remaining(lane: lane, done: done)
                continue
            }
            let chunk = budget < 64 ? budget : 64
            for _ in 0..<chunk {
                let timed = done & sampleMask == 0
                let start = timed ? MonotonicClock.nanoseconds : 0
                let global = rank * cells + cell
                let inPlace = board.isHyalineCell(global)
                do throws(OffHeapError) {
                    let p = try allocator.allocate()
                    tally.allocated()
                    let birth = hyaline.domain.birthEra()
                    generation &+= 1
                    write(SlotPattern(slot: UInt64(global), owner: owner, generation: generation), to: p)
                    if inPlace { hyaline.checker.noteAllocated() }
                    let displaced = board.publish(p, cell: global)
                    let displacedBirth = births[cell]
                    births[cell] = birth
                    if let displaced {
                        if inPlace {
                            retire(displaced, birth: displacedBirth, token: token, hyaline: hyaline)
                        } else {
                            checkAndFree(displaced, cell: global)
                        }
                    }
                    done &+= 1
                } catch {
                    tally.count(error)
                    // Retired slots wait for a batch: flush so they come back sooner.
                    token.flushPending()
                    offheap_yield()
                }
                cell = cell + 1 == cells ? 0 : cell + 1
                if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
            }
            token.leave()
            let statistics = hyaline.domain.statistics
            if statistics.unreclaimed > tally.peakUnreclaimed {
                tally.peakUnreclaimed = statistics.unreclaimed
            }
            budget = control.remaining(lane: lane, done: done)
        }
        tally.operations = done
    }

    /// Retires a displaced slot; when the domain has no free record, flushes and retries.
    mutating func retire(
        _ slot: UnsafeMutableRawPointer, birth: UInt64, token: borrowing HyalineGuard,
        hyaline: HyalineExchange
    ) {
        for attempt in 0..<64 {
            do throws(OffHeapError) {
                try token.retire(slot, birthEra: birth, reclaimer: hyaline.reclaimer)
                return
            } catch {
                if !error.isExhaustion || attempt == 63 {
                    tally.errors &+= 1   // the slot is leaked; recovery will show it
                    return
                }
                token.flushPending()
                offheap_yield()
            }
        }
    }

    /// Reader under Hyaline: validate every Hyaline cell's slot in place under a guard; in a
    /// mixed run take the exchange cells' slots out, verify and free them.
    mutating func readUnderHyaline(from board: Mailboxes, hyaline: HyalineExchange) {
        let total = board.cellCount
        var finalPass = false
        while true {
            let token: HyalineGuard
            do throws(OffHeapError) { token = try hyaline.domain.enter() } catch {
                tally.count(error)
                offheap_yield()
                if control.isStopping && board.allPublishersFinished { break }
                continue
            }
            for cell in 0..<total {
                if !board.isHyalineCell(cell) {
                    if let p = board.take(cell: cell) { checkAndFree(p, cell: cell) }
                    continue
                }
                let timed = tally.validations & sampleMask == 0
                let start = timed ? MonotonicClock.nanoseconds : 0
                let value = token.protect(board.cells + cell)
                guard let p = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: value))
                else { continue }
                checkPublished(p, cell: cell)
                tally.validations &+= 1
                if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
            }
            token.leave()
            _ = control.remaining(lane: lane, done: 0)
            if finalPass { break }
            if board.allPublishersFinished { finalPass = true }
        }
    }
}
