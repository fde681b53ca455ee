import OffHeap

extension Workloads {
    /// Random-mixed: each thread keeps `workingSet` blocks of 16–1024 B live; one operation
    /// verifies and frees a random block and allocates a new random size in its place.
    static func randomMixed<A: VariableSizeAllocator>(
        _ allocator: A, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        let control = try RunControl(
            lanes: config.threads, limit: config.limit, observeSignals: config.observeSignals)
        let outcome = try WorkerGroup.run(control: control) { lane in
            var tally = WorkerTally()
            var random = WorkloadRandom(seed: config.seed &+ UInt64(lane) &* 7919)
            let count = config.workingSet
            let set = UnsafeMutablePointer<LiveBlock?>.allocate(capacity: count)
            set.initialize(repeating: nil, count: count)
            defer { set.deallocate() }
            var generation: UInt64 = 0
            for index in 0..<count {
                generation &+= 1
                set[index] = tally.allocateBlock(
                    allocator, size: size(&random, config),
                    pattern: SlotPattern(slot: UInt64(index), owner: UInt64(lane), generation: generation))
            }
            let mask = UInt64(config.sampleEvery - 1)
            var done: UInt64 = 0
            var budget = control.remaining(lane: lane, done: 0)
            while budget > 0 && !tally.gaveUp {
                let chunk = budget < 64 ? budget : 64
                for _ in 0..<chunk {
                    let index = random.next(below: count)
                    let bytes = size(&random, config)
                    generation &+= 1
                    let timed = done & mask == 0
                    let start = timed ? MonotonicClock.nanoseconds : 0
                    if let old = set[index] { tally.verifyAndFree(allocator, old) }
                    set[index] = tally.allocateBlock(
                        allocator, size: bytes,
                        pattern: SlotPattern(slot: UInt64(index), owner: UInt64(lane), generation: generation))
                    if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
                    if set[index] != nil { done &+= 1 }
                }
                budget = control.remaining(lane: lane, done: done)
            }
            for index in 0..<count {
                if let block = set[index] { tally.verifyAndFree(allocator, block) }
            }
            tally.operations = done
            return tally
        }
        return result(outcome.tally, seconds: outcome.seconds, threads: config.threads)
    }

    /// Cache-scratch (Hoard): the main thread allocates one small object per thread back to
    /// back (so a careless allocator puts them on one cache line) and hands them over; each
    /// thread frees its inherited object, then repeatedly allocates an object, writes it
    /// `scratchWrites` times, verifies, frees. One operation = one object.
    static func cacheScratch<A: VariableSizeAllocator>(
        _ allocator: A, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        let size = config.scratchSize
        let seedBlocks = LaneStash(lanes: config.threads, perLane: 1)
        var setup = WorkerTally()
        for lane in 0..<config.threads {
            if let block = setup.allocateBlock(
                allocator, size: size,
                pattern: SlotPattern(slot: UInt64(lane), owner: .max, generation: 0))
            {
                seedBlocks.base(lane).initialize(to: block)
                seedBlocks.counts[lane] = 1
            }
        }
        let control = try RunControl(
            lanes: config.threads, limit: config.limit, observeSignals: config.observeSignals)
        let outcome = try WorkerGroup.run(control: control) { lane in
            var tally = WorkerTally()
            if seedBlocks.counts[lane] == 1 {
                tally.verifyAndFree(allocator, seedBlocks.base(lane).pointee)
                seedBlocks.counts[lane] = 0
            }
            let mask = UInt64(config.sampleEvery - 1)
            let words = size / 8
            control.repeatOperations(lane: lane, chunk: 16, sampleMask: mask, on: &tally) { tally, _ in
                do throws(OffHeapError) {
                    let p = try allocator.allocate(byteCount: size, alignment: 8)
                    tally.allocated()
                    let cells = p.bindMemory(to: UInt64.self, capacity: words)
                    for w in 0..<words { cells[w] = 0 }
                    for round in 0..<config.scratchWrites {
                        cells[round % words] &+= UInt64(lane) &+ 1
                    }
                    var sum: UInt64 = 0
                    for w in 0..<words { sum &+= cells[w] }
                    if sum != UInt64(config.scratchWrites) &* (UInt64(lane) &+ 1) {
                        tally.corruption &+= 1
                    }
                    do throws(OffHeapError) { try allocator.deallocate(p) } catch { tally.count(error) }
                    return .completed
                } catch {
                    tally.count(error)
                    return .failed
                }
            }
            return tally
        }
        var tally = outcome.tally
        tally.merge(setup)
        seedBlocks.drain(allocator, into: &tally)
        return result(tally, seconds: outcome.seconds, threads: config.threads)
    }
}
