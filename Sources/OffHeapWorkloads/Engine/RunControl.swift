import COffHeapHostShims
import COffHeapShims
import OffHeap
import Synchronization

/// Shared state between a run's supervisor (the calling thread) and its worker lanes: the
/// start gate, the stop flag, per-lane progress and finish times, and the operation quota.
///
/// Invariants (who writes what, which ordering publishes what):
/// - `go` and `stop` are written only by the supervisor (or `requestStop`), `go` with
///   release so every lane's acquire load sees the run's set-up; `stop` is only a signal
///   (relaxed both ways: it publishes no data).
/// - Lane `i`'s progress and finish words are written only by the thread currently running
///   lane `i` (one thread at a time; successive threads of a lane are joined in between);
///   the supervisor reads progress with relaxed loads (a statistic) and reads finish times
///   only after joining the lane's threads (join orders them).
/// - Each lane's words sit on their own 128-byte block so counters never share a line.
///
/// ```swift
/// let control = try RunControl(lanes: 4, limit: .operations(1_000))
/// // workers: while control.remaining(lane: i, done: n) > 0 { …; n += 1 }
/// ```
public final class RunControl: @unchecked Sendable {
    // @unchecked Sendable: all shared state is atomics in `words`, owned as documented above.
    public let lanes: Int
    public let limit: RunLimit
    /// Whether SIGINT/SIGTERM (shim flag) stops the run.
    public let observeSignals: Bool
    @usableFromInline internal let words: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline internal static let stride = 16
    @usableFromInline internal let quota: UnsafeMutablePointer<UInt64>
    @usableFromInline internal var wordCount: Int { (lanes + 1) * RunControl.stride }

    public init(lanes: Int, limit: RunLimit, observeSignals: Bool = false) throws(OffHeapError) {
        guard lanes > 0, lanes <= 4096 else {
            throw .invalidConfiguration(reason: "threads must be in 1...4096")
        }
        if case .operations(let n) = limit, n == 0 {
            throw .invalidConfiguration(reason: "operations must be positive")
        }
        self.lanes = lanes
        self.limit = limit
        self.observeSignals = observeSignals
        let count = (lanes + 1) * RunControl.stride
        words = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: count)
        for index in 0..<count { (words + index).initialize(to: Atomic(0)) }
        quota = UnsafeMutablePointer<UInt64>.allocate(capacity: lanes)
        for lane in 0..<lanes {
            switch limit {
            case .duration: quota[lane] = .max
            case .operations(let n):
                let share = n / UInt64(lanes)
                quota[lane] = share + (UInt64(lane) < n % UInt64(lanes) ? 1 : 0)
            }
        }
    }

    deinit {
        words.deinitialize(count: wordCount)
        words.deallocate()
        quota.deallocate()
    }

    // Word layout: block 0 = [go, stop, startNs]; block 1+i = [progress, finishNs] of lane i.
    @usableFromInline internal var go: UnsafeMutablePointer<Atomic<UInt64>> { words }
    @usableFromInline internal var stopWord: UnsafeMutablePointer<Atomic<UInt64>> { words + 1 }
    @usableFromInline internal var startWord: UnsafeMutablePointer<Atomic<UInt64>> { words + 2 }
    @usableFromInline
    internal func progressWord(_ lane: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        words + (lane + 1) * RunControl.stride
    }
    @usableFromInline
    internal func finishWord(_ lane: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        words + (lane + 1) * RunControl.stride + 1
    }

    /// Gives an operation limit only to `counting` lanes (the others, e.g. stress readers,
    /// get none and run until stopped); call before the run starts.
    public func distributeQuota(over counting: [Int]) {
        guard case .operations(let n) = limit, !counting.isEmpty else { return }
        for lane in 0..<lanes { quota[lane] = 0 }
        let k = UInt64(counting.count)
        for (rank, lane) in counting.enumerated() {
            quota[lane] = n / k + (UInt64(rank) < n % k ? 1 : 0)
        }
    }

    /// Operations lane `lane` may still do (0 = stop), and records `done` as its progress.
    /// Workers call it every few dozen operations.
    @inlinable
    public func remaining(lane: Int, done: UInt64) -> UInt64 {
        progressWord(lane).pointee.store(done, ordering: .relaxed)
        if stopWord.pointee.load(ordering: .relaxed) != 0 { return 0 }
        let q = quota[lane]
        return done >= q ? 0 : q - done
    }

    /// Whether the run was told to stop (limit reached, signal, or ``requestStop()``).
    @inlinable
    public var isStopping: Bool { stopWord.pointee.load(ordering: .relaxed) != 0 }

    /// Ends the run early; workers see it at their next ``remaining(lane:done:)``.
    public func requestStop() { stopWord.pointee.store(1, ordering: .relaxed) }

    /// Blocks a worker until the supervisor opens the gate.
    public func awaitStart() {
        while go.pointee.load(ordering: .acquiring) == 0 { offheap_yield() }
    }

    /// Opens the gate and records the start time.
    public func open() {
        startWord.pointee.store(MonotonicClock.nanoseconds, ordering: .relaxed)
        go.pointee.store(1, ordering: .releasing)
    }

    /// Marks lane `lane` finished now with `done` operations.
    public func finish(lane: Int, done: UInt64) {
        progressWord(lane).pointee.store(done, ordering: .relaxed)
        finishWord(lane).pointee.store(MonotonicClock.nanoseconds, ordering: .relaxed)
    }

    /// Sum of lanes' reported progress (approximate while running).
    public var progress: UInt64 {
        var sum: UInt64 = 0
        for lane in 0..<lanes { sum &+= progressWord(lane).pointee.load(ordering: .relaxed) }
        return sum
    }

    /// Whether every lane has called ``finish(lane:done:)``.
    public var allFinished: Bool {
        for lane in 0..<lanes where finishWord(lane).pointee.load(ordering: .relaxed) == 0 {
            return false
        }
        return true
    }

    /// Nanoseconds from ``open()`` to the last lane's finish (call after joining).
    public var elapsedNanoseconds: UInt64 {
        let start = startWord.pointee.load(ordering: .relaxed)
        var end = start
        for lane in 0..<lanes {
            let f = finishWord(lane).pointee.load(ordering: .relaxed)
            if f > end { end = f }
        }
        return end - start
    }

    /// Runs on the calling thread while workers run: stops the run at its deadline or on a
    /// signal, samples throughput every `interval` ns into the returned timeline, and calls
    /// `tick(progress, elapsedNs)` after each sample (the CLI's progress line). Returns when
    /// every lane has finished.
    public func supervise(
        interval: UInt64 = 100_000_000, tick: (UInt64, UInt64) -> Void = { _, _ in }
    ) -> [TimelinePoint] {
        let start = startWord.pointee.load(ordering: .relaxed)
        var timeline: [TimelinePoint] = []
        var lastSample = start
        var lastProgress: UInt64 = 0
        let deadline: UInt64
        if case .duration(let ns) = limit { deadline = start &+ ns } else { deadline = .max }
        while !allFinished {
            offheap_sleep_ns(1_000_000)
            let now = MonotonicClock.nanoseconds
            if !isStopping {
                if now >= deadline || (observeSignals && offheap_stop_requested() != 0) {
                    requestStop()
                }
            }
            if now &- lastSample >= interval {
                let p = progress
                let seconds = Double(now &- lastSample) / 1e9
                timeline.append(TimelinePoint(
                    t: Double(now &- start) / 1e9,
                    opsPerSecond: Double(p &- lastProgress) / seconds))
                lastSample = now
                lastProgress = p
                tick(p, now &- start)
            }
        }
        return timeline
    }
}

/// What one worker lane did: the parts of a ``WorkloadResult`` that add up across lanes.
public struct WorkerTally: Sendable {
    public var operations: UInt64 = 0
    public var errors: UInt64 = 0
    public var corruption: UInt64 = 0
    public var exhausted: UInt64 = 0
    public var latency = LatencyHistogram()
    /// Slots read and validated in place (stress readers under Hyaline); not operations.
    public var validations: UInt64 = 0
    /// Slots this lane freed that another thread had allocated (pattern owner ≠ this lane).
    public var crossThreadFrees: UInt64 = 0
    /// Largest count of retired-but-unreclaimed Hyaline nodes this lane observed.
    public var peakUnreclaimed: UInt64 = 0
    /// Exhaustion refusals (`isExhaustion`) since the last successful allocation.
    public var consecutiveExhausted = 0
    public init() {}

    /// A lane gives up after this many exhaustion refusals (`isExhaustion`) in a row (an allocator that
    /// frees only in bulk, like `Arena`, never recovers during a run), so an operation-limited
    /// run still ends.
    public static let giveUpAfter = 1 << 16

    /// Whether this lane stopped retrying an exhausted allocator.
    @inlinable
    public var gaveUp: Bool { consecutiveExhausted >= WorkerTally.giveUpAfter }

    /// Counts a typed error: exhaustion (`isExhaustion`) is expected under pressure, the rest are errors.
    @inlinable
    public mutating func count(_ error: OffHeapError) {
        if error.isExhaustion {
            exhausted &+= 1
            consecutiveExhausted &+= 1
        } else {
            errors &+= 1
        }
    }

    /// Records a successful allocation (resets the exhaustion streak).
    @inlinable @inline(__always)
    public mutating func allocated() { consecutiveExhausted = 0 }

    public mutating func merge(_ other: WorkerTally) {
        operations &+= other.operations
        errors &+= other.errors
        corruption &+= other.corruption
        exhausted &+= other.exhausted
        validations &+= other.validations
        crossThreadFrees &+= other.crossThreadFrees
        peakUnreclaimed = max(peakUnreclaimed, other.peakUnreclaimed)
        latency.merge(other.latency)
    }
}

/// Results written by worker lanes, each into its own element, read after the join.
@usableFromInline
internal final class TallyBoard: @unchecked Sendable {
    // @unchecked Sendable: element i is written only by lane i's thread; the supervisor reads
    // after joining every thread (pthread_join orders the writes).
    @usableFromInline let tallies: UnsafeMutablePointer<WorkerTally>
    @usableFromInline let count: Int
    init(count: Int) {
        self.count = count
        tallies = .allocate(capacity: count)
        tallies.initialize(repeating: WorkerTally(), count: count)
    }
    deinit {
        tallies.deinitialize(count: count)
        tallies.deallocate()
    }
    var merged: WorkerTally {
        var total = WorkerTally()
        for index in 0..<count { total.merge(tallies[index]) }
        return total
    }
}

/// Starts one thread per lane behind the start gate, supervises, joins.
public enum WorkerGroup {
    /// Runs `body(lane)` on `control.lanes` threads; returns the merged tally, the elapsed
    /// seconds (gate open → last finish) and the throughput timeline.
    ///
    /// - Throws: `.threadStartFailed` (after stopping and joining the threads that started).
    public static func run(
        control: RunControl,
        interval: UInt64 = 100_000_000,
        tick: (UInt64, UInt64) -> Void = { _, _ in },
        _ body: @escaping @Sendable (Int) -> WorkerTally
    ) throws(OffHeapError) -> (tally: WorkerTally, seconds: Double, timeline: [TimelinePoint]) {
        let board = TallyBoard(count: control.lanes)
        var threads: [PlatformThread] = []
        threads.reserveCapacity(control.lanes)
        var failure: OffHeapError?
        for lane in 0..<control.lanes {
            do throws(OffHeapError) {
                threads.append(try PlatformThread {
                    control.awaitStart()
                    let tally = body(lane)
                    board.tallies[lane] = tally
                    control.finish(lane: lane, done: tally.operations)
                })
            } catch {
                failure = error
                break
            }
        }
        if let failure {
            control.requestStop()
            control.open()
            for thread in threads { thread.join() }
            throw failure
        }
        control.open()
        let timeline = control.supervise(interval: interval, tick: tick)
        for thread in threads { thread.join() }
        return (board.merged, Double(control.elapsedNanoseconds) / 1e9, timeline)
    }
}
