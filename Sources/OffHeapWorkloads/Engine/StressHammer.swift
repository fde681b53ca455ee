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

/// Which worker lane the calling thread runs, kept in the shim's `scratch` thread-local slot
/// (lane + 1; nil on threads that are no worker), so code that runs on whichever thread
/// happens to be there — Hyaline reclamation — can tell a cross-thread free.
@usableFromInline
internal enum StressLane {
    static func mark(_ lane: Int) {
        ThreadLocalSlot.scratch.value = UnsafeMutableRawPointer(bitPattern: UInt(lane + 1))
    }

    static func unmark() { ThreadLocalSlot.scratch.value = nil }

    /// The calling thread's lane, or nil (the supervising thread, a controller thread).
    static var current: UInt64? {
        guard let marker = ThreadLocalSlot.scratch.value else { return nil }
        return UInt64(UInt(bitPattern: marker) - 1)
    }
}

/// Each worker's final tally, by lane (``TallyBoard``), grouped into the per-role rows.
extension TallyBoard {
    /// One row per role, in the order the roles first appear among the lanes.
    func figures(roles config: StressConfig) -> [StressRoleFigures] {
        var rows: [StressRoleFigures] = []
        for lane in 0..<count {
            let name = config.role(of: lane).name
            var index = -1
            for (at, row) in rows.enumerated() where row.role == name { index = at }
            if index < 0 {
                rows.append(StressRoleFigures(role: name, lanes: 0))
                index = rows.count - 1
            }
            rows[index].lanes += 1
            rows[index].add(tallies[lane])
        }
        return rows
    }
}

/// One worker's loop state; lives on the worker's stack.
@usableFromInline
internal struct StressWorker<A: FixedSizeAllocator>: TallyingLane {
    let allocator: A
    let control: RunControl
    let lane: Int
    let owner: UInt64
    let config: StressConfig
    let slotSize: Int
    let sampleMask: UInt64
    var tally = WorkerTally()
    var generation: UInt64 = 0
    /// Slots written so far (for ``StressConfig/plantCorruptionEvery``).
    var written = 0

    init(allocator: A, control: RunControl, lane: Int, config: StressConfig) {
        self.allocator = allocator
        self.control = control
        self.lane = lane
        self.owner = UInt64(lane)
        self.config = config
        self.slotSize = allocator.slotSize
        self.sampleMask = UInt64(config.sampleEvery - 1)
    }

    @inline(__always)
    mutating func nextPattern(slot: UInt64) -> SlotPattern {
        generation &+= 1
        return SlotPattern(slot: slot, owner: owner, generation: generation)
    }

    /// Writes `pattern` into `p`; every ``StressConfig/plantCorruptionEvery``-th slot then
    /// gets its checksum word flipped (the planted defect the checks must count).
    @inline(__always)
    mutating func write(_ pattern: SlotPattern, to p: UnsafeMutableRawPointer) {
        pattern.write(to: p, byteCount: slotSize)
        let every = config.plantCorruptionEvery
        if every > 0 {
            written &+= 1
            if written % every == 0 {
                let offset = slotSize >= SlotPattern.byteCount ? 24 : 0
                let word = p.load(fromByteOffset: offset, as: UInt64.self)
                p.storeBytes(of: ~word, toByteOffset: offset, as: UInt64.self)
            }
        }
    }

    @inline(__always)
    mutating func verifyAndFree(_ pointer: UnsafeMutableRawPointer, expecting pattern: SlotPattern) {
        if !pattern.matches(pointer, byteCount: slotSize) { tally.corruption &+= 1 }
        do throws(OffHeapError) { try allocator.deallocate(pointer) } catch { tally.count(error) }
    }

    /// Allocates a slot and writes a fresh pattern naming `slot` into it; on an error counts
    /// it, yields and returns nil.
    @inline(__always)
    mutating func allocatePatterned(
        slot: UInt64
    ) -> (pointer: UnsafeMutableRawPointer, pattern: SlotPattern)? {
        do throws(OffHeapError) {
            let p = try allocator.allocate()
            tally.allocated()
            let pattern = nextPattern(slot: slot)
            write(pattern, to: p)
            return (p, pattern)
        } catch {
            tally.count(error)
            offheap_yield()
            return nil
        }
    }

    /// ``RunControl/repeatOperations(lane:chunk:sampleMask:on:_:)`` on this worker's lane:
    /// one slot per operation, the quota checked every 64.
    @inline(__always)
    mutating func repeatOperations(_ operation: (inout StressWorker, _ done: UInt64) -> OperationOutcome) {
        let control = self.control, lane = self.lane, sampleMask = self.sampleMask
        control.repeatOperations(lane: lane, sampleMask: sampleMask, on: &self, operation)
    }

    /// Allocate, write, verify, free.
    mutating func bounce() {
        repeatOperations { worker, done in
            guard let slot = worker.allocatePatterned(slot: done) else { return .failed }
            worker.verifyAndFree(slot.pointer, expecting: slot.pattern)
            return .completed
        }
    }

    /// Allocate a batch, write all, verify all, free all.
    mutating func burst() {
        let size = config.burstSize
        let held = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: size)
        let patterns = UnsafeMutablePointer<SlotPattern>.allocate(capacity: size)
        defer {
            held.deallocate()
            patterns.deallocate()
        }
        var done: UInt64 = 0
        var bursts: UInt64 = 0
        var budget = control.remaining(lane: lane, done: 0)
        while budget > 0 && !tally.gaveUp {
            let want = budget < UInt64(size) ? Int(budget) : size
            let timed = bursts & sampleMask == 0
            let start = timed ? MonotonicClock.nanoseconds : 0
            var count = 0
            while count < want {
                do throws(OffHeapError) {
                    let p = try allocator.allocate()
                    tally.allocated()
                    let pattern = nextPattern(slot: UInt64(count))
                    write(pattern, to: p)
                    (held + count).initialize(to: p)
                    (patterns + count).initialize(to: pattern)
                    count += 1
                } catch {
                    tally.count(error)
                    break
                }
            }
            for index in 0..<count { verifyAndFree(held[index], expecting: patterns[index]) }
            if timed, count > 0 {
                tally.latency.record((MonotonicClock.nanoseconds &- start) / UInt64(count))
            }
            if count == 0 { offheap_yield() }
            done &+= UInt64(count)
            bursts &+= 1
            budget = control.remaining(lane: lane, done: done)
        }
        tally.operations = done
    }

    /// Keep the newest `retireDepth` slots; each new one retires (verifies, frees) the oldest.
    mutating func retire() {
        let depth = config.retireDepth
        let ring = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: depth)
        ring.initialize(repeating: nil, count: depth)
        let patterns = UnsafeMutablePointer<SlotPattern>.allocate(capacity: depth)
        patterns.initialize(repeating: SlotPattern(slot: 0, owner: 0, generation: 0), count: depth)
        defer {
            ring.deallocate()
            patterns.deallocate()
        }
        var head = 0
        repeatOperations { worker, _ in
            defer { head = head + 1 == depth ? 0 : head + 1 }
            if let old = ring[head] {
                worker.verifyAndFree(old, expecting: patterns[head])
                ring[head] = nil
            }
            guard let slot = worker.allocatePatterned(slot: UInt64(head)) else { return .failed }
            ring[head] = slot.pointer
            patterns[head] = slot.pattern
            return .completed
        }
        for index in 0..<depth {
            if let p = ring[index] { verifyAndFree(p, expecting: patterns[index]) }
        }
    }

    /// Publish slots into this publisher's mailbox cells; a slot still in the cell (no
    /// reader took it) comes back, is verified and freed here.
    mutating func publish(into board: Mailboxes, rank: Int) {
        var cell = 0
        let cells = board.cellsPerPublisher
        repeatOperations { worker, _ in
            let global = rank * cells + cell
            cell = cell + 1 == cells ? 0 : cell + 1
            guard let slot = worker.allocatePatterned(slot: UInt64(global)) else { return .failed }
            if let displaced = board.publish(slot.pointer, cell: global) {
                worker.checkAndFree(displaced, cell: global)
            }
            return .completed
        }
    }

    /// A published slot must hold a self-consistent pattern naming its cell and a publisher.
    /// Returns the publisher's lane when the pattern is intact (nil: corrupted, or a slot too
    /// small to hold the owner).
    @discardableResult
    mutating func checkPublished(_ p: UnsafeMutableRawPointer, cell: Int) -> UInt64? {
        guard slotSize >= SlotPattern.byteCount else { return nil }
        guard let pattern = SlotPattern.read(from: p, byteCount: slotSize),
            pattern.slot == UInt64(cell), pattern.owner < UInt64(config.threads)
        else {
            tally.corruption &+= 1
            return nil
        }
        return pattern.owner
    }

    /// Verifies a slot this worker now owns (taken out of, or displaced from, a mailbox
    /// cell) and frees it; counts a cross-thread free when its publisher was another lane.
    mutating func checkAndFree(_ p: UnsafeMutableRawPointer, cell: Int) {
        let publisher = checkPublished(p, cell: cell)
        do throws(OffHeapError) {
            try allocator.deallocate(p)
            if let publisher, publisher != owner { tally.crossThreadFrees &+= 1 }
        } catch {
            tally.count(error)
        }
    }

    /// Take slots out of every mailbox, verify, free (the cross-thread free path).
    mutating func read(from board: Mailboxes) {
        let total = board.cellCount
        var cell = total > 0 ? (lane * 7) % total : 0
        var idleScans = 0
        var taken: UInt64 = 0
        while true {
            var found = false
            for _ in 0..<total {
                if let p = board.take(cell: cell) {
                    let timed = taken & sampleMask == 0
                    let start = timed ? MonotonicClock.nanoseconds : 0
                    checkAndFree(p, cell: cell)
                    taken &+= 1
                    found = true
                    if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
                }
                cell = cell + 1 == total ? 0 : cell + 1
            }
            if !found {
                if board.allPublishersFinished || control.isStopping {
                    idleScans += 1
                    if idleScans > 1 { break }
                } else {
                    offheap_yield()
                }
            }
            _ = control.remaining(lane: lane, done: 0)
        }
    }
}

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
        return UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded:
            cells[cell].exchange(0, ordering: .acquiringAndReleasing)))
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
