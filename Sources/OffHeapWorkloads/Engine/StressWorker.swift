import COffHeapShims
import OffHeap
import Synchronization

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
