import OffHeap

/// A lane's loop state that carries the lane's ``WorkerTally`` — a ``StressWorker``, or a bare
/// tally: what ``RunControl/repeatOperations(lane:chunk:sampleMask:on:_:)`` counts into.
internal protocol TallyingLane {
    var tally: WorkerTally { get set }
}

extension WorkerTally: TallyingLane {
    /// The tally itself, in place.
    internal var tally: WorkerTally {
        _read { yield self }
        _modify { yield &self }
    }
}

/// How one operation of ``RunControl/repeatOperations(lane:chunk:sampleMask:on:_:)`` ended.
internal enum OperationOutcome {
    /// Done: counts towards the lane's quota and `tally.operations`.
    case completed
    /// Not done (e.g. the allocator refused); the loop goes on.
    case failed
    /// The lane cannot go on: the loop ends now (this operation is not timed).
    case stop
}

extension RunControl {
    /// The operation loop of the workloads and the stress hammer: runs `operation` on `lane`
    /// until the lane's quota is spent, the tally gave up, or an operation says `.stop`;
    /// asks for the quota every `chunk` operations and times every operation whose number
    /// (completed so far) matches `sampleMask` into the tally's latency. `operation(&state,
    /// done)` gets the number completed so far. Ends with `tally.operations` = completed.
    ///
    /// ```swift
    /// var tally = WorkerTally()
    /// control.repeatOperations(lane: lane, sampleMask: 63, on: &tally) { tally, done in
    ///     tally.allocateBlock(allocator, size: 64, pattern: pattern) == nil ? .failed : .completed
    /// }
    /// ```
    @inline(__always)
    func repeatOperations<Lane: TallyingLane>(
        lane: Int, chunk: UInt64 = 64, sampleMask: UInt64, on state: inout Lane,
        _ operation: (inout Lane, _ done: UInt64) -> OperationOutcome
    ) {
        var done: UInt64 = 0
        var budget = remaining(lane: lane, done: 0)
        operations: while budget > 0 && !state.tally.gaveUp {
            let count = budget < chunk ? budget : chunk
            for _ in 0..<count {
                let timed = done & sampleMask == 0
                let start = timed ? MonotonicClock.nanoseconds : 0
                switch operation(&state, done) {
                case .completed: done &+= 1
                case .failed: break
                case .stop: break operations
                }
                if timed { state.tally.latency.record(MonotonicClock.nanoseconds &- start) }
            }
            budget = remaining(lane: lane, done: done)
        }
        state.tally.operations = done
    }
}
