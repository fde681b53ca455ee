import COffHeapShims
import OffHeap
import Synchronization

/// The stress hammer: N workers in roles (bounce, publisher/reader, burst, retire,
/// stalled) against one fixed-size allocator, every slot carrying a ``SlotPattern`` that is
/// verified before it is freed — by another thread for published slots — so corruption is
/// counted, not hoped for. It ends with the exhaustion-and-recovery phase (``RecoveryCheck``).
///
/// ```swift
/// var config = StressConfig()
/// config.threads = 8
/// config.roles = [.bounce, .publisher, .reader, .burst, .retire]
/// config.limit = .operations(100_000)
/// config.expectedCapacity = 4096
/// let pool = try SystemAllocator(slotSize: 64, capacity: 4096)
/// let result = try StressHammer.run(pool, allocatorName: "system", config: config)
/// assert(result.corruption == 0 && result.recovered == true)
/// ```
public enum StressHammer {
    public static func run<A: FixedSizeAllocator>(
        _ allocator: A, allocatorName: String, config: StressConfig,
        reclaim: () -> Bool = { true },
        tick: (UInt64, UInt64) -> Void = { _, _ in }
    ) throws(OffHeapError) -> WorkloadResult {
        try config.validate()
        let control = try RunControl(
            lanes: config.threads, limit: config.limit, observeSignals: config.observeSignals)
        var counting: [Int] = []
        var publisherLanes: [Int] = []
        for lane in 0..<config.threads {
            let role = config.role(of: lane)
            if role != .reader && role != .stalled { counting.append(lane) }
            if role == .publisher { publisherLanes.append(lane) }
        }
        control.distributeQuota(over: counting)
        let underHyaline = config.hyaline && !publisherLanes.isEmpty
        let board = Mailboxes(
            publishers: publisherLanes.count, cellsPerPublisher: config.mailboxSize,
            hyaline: underHyaline, mixed: config.hyalineMixed)
        var publisherRank = [Int](repeating: -1, count: config.threads)
        for (rank, lane) in publisherLanes.enumerated() { publisherRank[lane] = rank }
        let ranks = publisherRank
        let hyaline = underHyaline
            ? try HyalineExchange.make(
                allocator, threads: config.threads, budget: config.hyalineBudget
                    ?? max(2 * board.hyalineCellCount, 2),
                controller: config.hyalineController)
            : nil
        let lanes = TallyBoard(count: config.threads)

        var result = WorkloadResult(workload: "stress", allocator: allocatorName, threads: config.threads)
        let outcome = try WorkerGroup.run(
            control: control, interval: config.intervalNanoseconds, tick: tick
        ) { lane in
            StressLane.mark(lane)
            defer { StressLane.unmark() }
            var worker = StressWorker(
                allocator: allocator, control: control, lane: lane, config: config)
            switch config.role(of: lane) {
            case .bounce: worker.bounce()
            case .burst: worker.burst()
            case .retire: worker.retire()
            case .publisher:
                if let hyaline {
                    worker.publishUnderHyaline(into: board, rank: ranks[lane], hyaline: hyaline)
                } else {
                    worker.publish(into: board, rank: ranks[lane])
                }
                board.publisherFinished()
            case .reader:
                if let hyaline {
                    worker.readUnderHyaline(from: board, hyaline: hyaline)
                } else {
                    worker.read(from: board)
                }
            case .stalled:
                if let hyaline { worker.stallUnderHyaline(board: board, hyaline: hyaline) }
            }
            lanes.tallies[lane] = worker.tally
            return worker.tally
        }

        var tally = outcome.tally
        // Every worker joined: no reader holds a slot, so whatever Hyaline still has retired
        // goes back to the allocator now; a node it keeps is a leak the recovery phase sees.
        if let hyaline {
            if hyaline.stalledPeak.load(ordering: .relaxed) >= 0 {
                let threshold = hyaline.domain.configuration.batchThreshold
                let frequency = hyaline.domain.configuration.eraFrequency
                let stripes = hyaline.domain.configuration.stripes
                let readers = hyaline.domain.configuration.maximumReaders
                let live = board.hyalineCellCount
                let batch = threshold + 8 + readers + 1
                // Nodes born in or before the stalled era: those live when it stalled plus
                // one era step of every thread; each pins at most its batch; plus what is
                // pending in stripes and threads' chunks.
                let bound = (live + config.threads * frequency) * batch
                    + stripes * (threshold + 8) + config.threads * 8
                result.facts.append(WorkloadFact(
                    name: "hyalineStalledPeak",
                    value: Double(hyaline.stalledPeak.load(ordering: .relaxed))))
                result.facts.append(WorkloadFact(name: "hyalineStalledBound", value: Double(bound)))
                if hyaline.stalledPeak.load(ordering: .relaxed) > bound { tally.errors &+= 1 }
            }
            let end = hyaline.finish()
            result.facts.append(WorkloadFact(name: "hyalineReads", value: Double(tally.validations)))
            result.facts.append(WorkloadFact(name: "hyalineUnreclaimed", value: Double(end.unreclaimed)))
            result.facts.append(WorkloadFact(
                name: "hyalinePeakUnreclaimed", value: Double(max(tally.peakUnreclaimed, end.peak))))
            result.facts.append(WorkloadFact(name: "hyalineRetired", value: Double(end.retired)))
            result.facts.append(WorkloadFact(name: "hyalineReclaimed", value: Double(end.reclaimed)))
            result.facts.append(WorkloadFact(
                name: "hyalineReclaimCrossThread", value: Double(end.reclaimCrossThread)))
            result.facts.append(WorkloadFact(
                name: "hyalineReclaimCorruption", value: Double(end.reclaimCorruption)))
            result.facts.append(WorkloadFact(
                name: "hyalineController", value: config.hyalineController ? 1 : 0))
            if config.hyalineController {
                result.facts.append(WorkloadFact(
                    name: "hyalineControllerTicks", value: Double(end.controllerTicks)))
                result.facts.append(WorkloadFact(
                    name: "hyalineControllerFlushes", value: Double(end.controllerFlushes)))
                if let lowest = end.controllerLowestThreshold {
                    result.facts.append(WorkloadFact(
                        name: "hyalineControllerLowestThreshold", value: Double(lowest)))
                }
            }
            tally.corruption &+= end.reclaimCorruption
            tally.errors &+= end.reclaimErrors
            tally.crossThreadFrees &+= end.reclaimCrossThread
        }
        // Slots still in mailboxes: verified and freed here, after every worker joined (on
        // this thread, which allocated none of them: cross-thread frees too).
        board.drain(into: &tally, allocator: allocator, slotSize: allocator.slotSize)
        result.facts.append(WorkloadFact(name: "crossThreadFrees", value: Double(tally.crossThreadFrees)))
        result.roles = lanes.figures(roles: config)
        result.operations = tally.operations
        result.errors = tally.errors
        result.corruption = tally.corruption
        result.exhausted = tally.exhausted
        result.latency = tally.latency
        result.seconds = outcome.seconds
        result.timeline = outcome.timeline
        result.summariseLatency()
        if config.recovery {
            let check = RecoveryCheck.run(
                allocator, expectedCapacity: config.expectedCapacity, limit: config.recoveryLimit,
                unbounded: config.unboundedAllocator, reclaim: reclaim)
            result.recovered = check.recovered
            result.recoveredSlots = check.firstPass
            result.corruption &+= UInt64(check.corrupted)
            result.errors &+= UInt64(check.errors)
        }
        return result
    }
}
