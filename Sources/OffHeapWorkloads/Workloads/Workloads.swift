import COffHeapHostShims
import OffHeap

/// Runs the variable-size workloads against any ``VariableSizeAllocator`` (ours, a
/// fixed-size one through ``FixedSizeAdapter``, or the system allocator and its peers).
///
/// ```swift
/// var config = WorkloadConfig()
/// config.threads = 2
/// config.limit = .operations(10_000)
/// let result = try Workloads.run(.randomMixed, on: try SystemAllocator(), allocatorName: "glibc", config: config)
/// assert(result.corruption == 0)
/// ```
public enum Workloads {
    public static func run<A: VariableSizeAllocator>(
        _ kind: WorkloadKind, on allocator: A, allocatorName: String, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        try config.validate()
        var result: WorkloadResult
        switch kind {
        case .rag: result = try rag(allocator, config: config)
        case .larson: result = try larson(allocator, config: config)
        case .randomMixed: result = try randomMixed(allocator, config: config)
        case .producerConsumer: result = try producerConsumer(allocator, config: config)
        case .threadChurn: result = try threadChurn(allocator, config: config)
        case .cacheScratch: result = try cacheScratch(allocator, config: config)
        }
        result.workload = kind.name
        result.allocator = allocatorName
        result.summariseLatency()
        return result
    }

    /// Fills a result from a merged tally.
    static func result(_ tally: WorkerTally, seconds: Double, threads: Int) -> WorkloadResult {
        var result = WorkloadResult(workload: "", allocator: "", threads: threads)
        result.operations = tally.operations
        result.errors = tally.errors
        result.corruption = tally.corruption
        result.exhausted = tally.exhausted
        result.latency = tally.latency
        result.seconds = seconds
        return result
    }

    /// A random size in the configured range.
    @inline(__always)
    static func size(_ random: inout WorkloadRandom, _ config: WorkloadConfig) -> Int {
        random.next(in: config.minSize...config.maxSize)
    }
}

/// Per-lane storage that outlives the threads using it (larson stashes, thread-churn
/// holdings): lane `i`'s region is touched by one thread at a time, and successive threads of
/// a lane are separated by a join, which orders their accesses.
@usableFromInline
internal final class LaneStash: @unchecked Sendable {
    // @unchecked Sendable: see the ownership rule above; no two threads share a lane at once.
    let lanes: Int
    let perLane: Int
    let blocks: UnsafeMutablePointer<LiveBlock>
    let counts: UnsafeMutablePointer<Int>

    init(lanes: Int, perLane: Int) {
        self.lanes = lanes
        self.perLane = perLane
        blocks = .allocate(capacity: lanes * perLane)
        counts = .allocate(capacity: lanes)
        counts.initialize(repeating: 0, count: lanes)
    }

    deinit {
        blocks.deallocate()
        counts.deallocate()
    }

    func base(_ lane: Int) -> UnsafeMutablePointer<LiveBlock> { blocks + lane * perLane }

    /// Verifies and frees everything left (after the last generation joined).
    func drain<A: VariableSizeAllocator>(_ allocator: A, into tally: inout WorkerTally) {
        for lane in 0..<lanes {
            let base = base(lane)
            for index in 0..<counts[lane] { tally.verifyAndFree(allocator, base[index]) }
            counts[lane] = 0
        }
    }
}

/// Runs generations of threads until the run limit: each generation starts `lanes` threads
/// running `body(lane, generation)` and joins them; the work a generation leaves behind is
/// picked up by the next one (thread hand-over).
enum Generations {
    static func run(
        lanes: Int, limit: RunLimit, observeSignals: Bool,
        _ body: @escaping @Sendable (Int, Int) -> WorkerTally
    ) throws(OffHeapError) -> (tally: WorkerTally, seconds: Double) {
        var total = WorkerTally()
        let start = MonotonicClock.nanoseconds
        var generation = 0
        while true {
            let board = TallyBoard(count: lanes)
            let g = generation
            try PlatformThread.run(count: lanes) { lane in
                board.tallies[lane] = body(lane, g)
            }
            total.merge(board.merged)
            generation += 1
            if observeSignals && offheap_stop_requested() != 0 { break }
            let finished: Bool
            switch limit {
            case .duration(let ns): finished = MonotonicClock.nanoseconds &- start >= ns
            case .operations(let n): finished = total.operations >= n
            }
            if finished { break }
        }
        return (total, Double(MonotonicClock.nanoseconds &- start) / 1e9)
    }
}
