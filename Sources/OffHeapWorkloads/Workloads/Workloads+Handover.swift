import COffHeapHostShims
import OffHeap

extension Workloads {
    /// Larson: each lane keeps a stash of `larsonBlocks` blocks; one operation verifies and
    /// frees a random block and allocates a random size in its place. After `larsonRounds`
    /// operations the thread exits and the next generation's thread inherits the stash, so
    /// most frees happen on a thread other than the allocating one.
    static func larson<A: VariableSizeAllocator>(
        _ allocator: A, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        let stash = LaneStash(lanes: config.threads, perLane: config.larsonBlocks)
        var setup = WorkerTally()
        var random = WorkloadRandom(seed: config.seed)
        for lane in 0..<config.threads {
            let base = stash.base(lane)
            for index in 0..<config.larsonBlocks {
                guard let block = setup.allocateBlock(
                    allocator, size: size(&random, config),
                    pattern: SlotPattern(slot: UInt64(index), owner: UInt64(lane), generation: 0))
                else { break }
                (base + index).initialize(to: block)
                stash.counts[lane] = index + 1
            }
        }
        let rounds = limitedRounds(config.larsonRounds, config: config)
        let outcome = try Generations.run(
            lanes: config.threads, limit: config.limit, observeSignals: config.observeSignals
        ) { lane, generation in
            var tally = WorkerTally()
            var random = WorkloadRandom(seed: config.seed &+ UInt64(generation &* 131 &+ lane))
            let base = stash.base(lane)
            let count = stash.counts[lane]
            guard count > 0 else { return tally }
            let mask = UInt64(config.sampleEvery - 1)
            let owner = UInt64(generation) << 16 | UInt64(lane)
            var done: UInt64 = 0
            for round in 0..<rounds {
                if round & 255 == 0, offheap_stop_requested() != 0, config.observeSignals { break }
                if tally.gaveUp { break }
                let index = random.next(below: count)
                let bytes = size(&random, config)
                let timed = done & mask == 0
                let start = timed ? MonotonicClock.nanoseconds : 0
                tally.verifyAndFree(allocator, base[index])
                let pattern = SlotPattern(slot: UInt64(index), owner: owner, generation: UInt64(round))
                if let block = tally.allocateBlock(allocator, size: bytes, pattern: pattern) {
                    base[index] = block
                } else {
                    // Keep the stash dense: move the last block into the hole.
                    stash.counts[lane] -= 1
                    base[index] = base[stash.counts[lane]]
                    if stash.counts[lane] == 0 { break }
                }
                if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
                done &+= 1
                if stash.counts[lane] != count { break }
            }
            tally.operations = done
            return tally
        }
        var tally = outcome.tally
        tally.merge(setup)
        stash.drain(allocator, into: &tally)
        return result(tally, seconds: outcome.seconds, threads: config.threads)
    }

    /// Per-thread rounds, shortened when an operation limit is smaller than one generation.
    static func limitedRounds(_ rounds: Int, config: WorkloadConfig) -> Int {
        if case .operations(let n) = config.limit {
            let perThread = (n + UInt64(config.threads) - 1) / UInt64(config.threads)
            return perThread < UInt64(rounds) ? max(Int(perThread), 1) : rounds
        }
        return rounds
    }

    /// Thread churn: every generation's threads verify and free what the previous
    /// generation's thread of their lane left behind, allocate `churnBlocks` blocks, free
    /// half and exit holding the other half. One operation = one allocation.
    static func threadChurn<A: VariableSizeAllocator>(
        _ allocator: A, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        let held = LaneStash(lanes: config.threads, perLane: config.churnBlocks)
        let blocks = limitedRounds(config.churnBlocks, config: config)
        let outcome = try Generations.run(
            lanes: config.threads, limit: config.limit, observeSignals: config.observeSignals
        ) { lane, generation in
            var tally = WorkerTally()
            var random = WorkloadRandom(seed: config.seed &+ UInt64(generation &* 977 &+ lane))
            let base = held.base(lane)
            let mask = UInt64(config.sampleEvery - 1)
            for index in 0..<held.counts[lane] { tally.verifyAndFree(allocator, base[index]) }
            held.counts[lane] = 0
            let owner = UInt64(generation) << 16 | UInt64(lane)
            var kept = 0
            for index in 0..<blocks {
                let timed = UInt64(index) & mask == 0
                let start = timed ? MonotonicClock.nanoseconds : 0
                let pattern = SlotPattern(slot: UInt64(index), owner: owner, generation: UInt64(generation))
                guard let block = tally.allocateBlock(allocator, size: size(&random, config), pattern: pattern)
                else { continue }
                tally.operations &+= 1
                if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
                if index & 1 == 0 {
                    tally.verifyAndFree(allocator, block)
                } else {
                    (base + kept).initialize(to: block)
                    kept += 1
                }
            }
            held.counts[lane] = kept
            return tally
        }
        var tally = outcome.tally
        held.drain(allocator, into: &tally)
        return result(tally, seconds: outcome.seconds, threads: config.threads)
    }
}
