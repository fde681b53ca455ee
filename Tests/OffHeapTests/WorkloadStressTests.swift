import OffHeap
import OffHeapWorkloads
import Testing

@Suite("Stress hammer")
struct WorkloadStressTests {
    static func config(threads: Int, roles: [StressRole], operations: UInt64, capacity: Int) -> StressConfig {
        var config = StressConfig()
        config.threads = threads
        config.roles = roles
        config.limit = .operations(operations)
        config.expectedCapacity = capacity
        config.retireDepth = 16
        config.burstSize = 8
        config.mailboxSize = 16
        config.sampleEvery = 16
        return config
    }

    @Test func concurrentStressAllRolesAcross8Threads() throws {
        let capacity = 2048
        let pool = try SystemAllocator(slotSize: 64, capacity: capacity)
        let config = Self.config(
            threads: 8, roles: [.bounce, .publisher, .reader, .burst, .retire, .publisher, .reader, .bounce],
            operations: 20_000, capacity: capacity)
        let result = try StressHammer.run(pool, allocatorName: "system", config: config)
        #expect(result.operations == 20_000)
        #expect(result.corruption == 0)
        #expect(result.errors == 0)
        #expect(result.recovered == true)
        #expect(result.recoveredSlots == capacity)
        #expect(result.latency.totalCount > 0)
        #expect(result.p50Ns <= result.p99Ns)
        #expect(pool.liveCount == 0)
    }

    /// A `stalled` worker holds one guard for the whole run while publishers retire: the
    /// unreclaimed peak it sees stays within the stated Hyaline-S bound.
    @Test func concurrentStalledReaderPeakStaysWithinTheBound() throws {
        let capacity = 1024
        let pool = try SystemAllocator(slotSize: 64, capacity: capacity)
        let config = Self.config(
            threads: 4, roles: [.publisher, .stalled, .reader, .publisher],
            operations: 20_000, capacity: capacity)
        let result = try StressHammer.run(pool, allocatorName: "system", config: config)
        #expect(result.operations == 20_000)
        #expect(result.corruption == 0 && result.errors == 0)
        #expect(result.recovered == true)
        let peak = try #require(result.facts.first { $0.name == "hyalineStalledPeak" }?.value)
        let bound = try #require(result.facts.first { $0.name == "hyalineStalledBound" }?.value)
        #expect(peak <= bound)
        #expect(result.facts.first { $0.name == "hyalineUnreclaimed" }?.value == 0)
        var invalid = config
        invalid.hyaline = false
        #expect(throws: OffHeapError.self) { try invalid.validate() }
        #expect(StressRole(name: "stalled") == .stalled)
    }

    @Test(arguments: [true, false])
    func concurrentPublisherReadersAcross8Threads(_ hyaline: Bool) throws {
        let capacity = 1024
        let pool = try SystemAllocator(slotSize: 64, capacity: capacity)
        var config = Self.config(
            threads: 8, roles: [.publisher, .reader, .reader, .reader, .publisher, .reader, .bounce, .reader],
            operations: 10_000, capacity: capacity)
        config.hyaline = hyaline
        let result = try StressHammer.run(pool, allocatorName: "system", config: config)
        #expect(result.operations == 10_000)
        #expect(result.corruption == 0 && result.errors == 0)
        #expect(result.recovered == true, "every retired slot came back")
        #expect(pool.liveCount == 0)
        if hyaline {
            let reads = result.facts.first { $0.name == "hyalineReads" }?.value ?? 0
            #expect(reads > 0, "readers validated slots in place")
            #expect(result.facts.first { $0.name == "hyalineUnreclaimed" }?.value == 0)
        }
    }

    @Test func concurrentStressDurationRunStopsAndRecovers() throws {
        let pool = try SystemAllocator(slotSize: 32, capacity: 512)
        var config = Self.config(threads: 8, roles: [.bounce, .retire], operations: 1, capacity: 512)
        config.limit = .duration(nanoseconds: 150_000_000)
        config.intervalNanoseconds = 20_000_000
        let start = MonotonicClock.nanoseconds
        let result = try StressHammer.run(pool, allocatorName: "system", config: config)
        let elapsed = MonotonicClock.nanoseconds - start
        #expect(elapsed >= 150_000_000)
        #expect(result.seconds >= 0.15)
        #expect(result.operations > 0)
        #expect(!result.timeline.isEmpty)
        #expect(result.corruption == 0 && result.errors == 0)
        #expect(result.recovered == true)
    }

    @Test func corruptionCounterDetectsInjectedDuplicateSlots() throws {
        let base = try SystemAllocator(slotSize: 64, capacity: 256)
        let broken = DuplicatingAllocator(base: base, period: 50)
        var config = Self.config(threads: 1, roles: [.retire], operations: 1_000, capacity: 256)
        config.recovery = false
        let result = try StressHammer.run(broken, allocatorName: "broken", config: config)
        #expect(result.corruption > 0)

        // The same allocator without the fault counts nothing.
        let clean = try StressHammer.run(
            try SystemAllocator(slotSize: 64, capacity: 256), allocatorName: "clean",
            config: Self.config(threads: 1, roles: [.retire], operations: 1_000, capacity: 256))
        #expect(clean.corruption == 0)
        #expect(clean.recovered == true)
    }

    @Test func burstDetectsInjectedDuplicateSlots() throws {
        let broken = DuplicatingAllocator(base: try SystemAllocator(slotSize: 64, capacity: 256), period: 7)
        var config = Self.config(threads: 1, roles: [.burst], operations: 500, capacity: 256)
        config.recovery = false
        let result = try StressHammer.run(broken, allocatorName: "broken", config: config)
        #expect(result.corruption > 0)
    }

    @Test func concurrentRecoveryFailsWhenSlotsLeak() throws {
        let base = try SystemAllocator(slotSize: 64, capacity: 1024)
        let leaky = LeakingAllocator(base: base, period: 997)
        let config = Self.config(
            threads: 8, roles: [.bounce, .burst, .retire, .publisher, .reader],
            operations: 8_000, capacity: 1024)
        let result = try StressHammer.run(leaky, allocatorName: "leaky", config: config)
        #expect(result.recovered == false)
        #expect((result.recoveredSlots ?? 0) < 1024)
    }

    @Test func recoveryCheckCountsLeakedAndOverlappingSlots() throws {
        let pool = try SystemAllocator(slotSize: 64, capacity: 64)
        let held = try pool.allocate()
        let leaked = RecoveryCheck.run(pool, expectedCapacity: 64, limit: 1 << 20)
        #expect(leaked.firstPass == 63)
        #expect(leaked.recovered == false)
        try pool.deallocate(held)
        let healthy = RecoveryCheck.run(pool, expectedCapacity: 64, limit: 1 << 20)
        #expect(healthy.recovered == true)
        #expect(healthy.firstPass == 64 && healthy.secondPass == 64)

        let overlapping = RecoveryCheck.run(OverlappingAllocator(capacity: 32), expectedCapacity: 32, limit: 1 << 20)
        #expect(overlapping.corrupted > 0)
        #expect(overlapping.recovered == false)

        // Unknown capacity and an allocator that never runs out: nothing can be claimed.
        let unbounded = RecoveryCheck.run(try SystemAllocator(slotSize: 16), expectedCapacity: nil, limit: 100)
        #expect(unbounded.recovered == nil)
    }
}

@Suite("Stress hammer on our allocators")
struct WorkloadStressAllocatorTests {
    @Test(arguments: [AllocatorChoice.freelist, .sharded])
    func concurrentStressFixedPoolAllRolesAcross8Threads(_ choice: AllocatorChoice) throws {
        var plan = RunPlan(command: .stress)
        plan.allocators = [choice]
        plan.capacity = 1024
        plan.stress = WorkloadStressTests.config(
            threads: 8, roles: [.bounce, .publisher, .reader, .burst, .retire, .reader, .bounce, .publisher],
            operations: 10_000, capacity: 1024)
        let document = try plan.run()
        let result = try #require(document.results.first)
        #expect(result.allocator == choice.name)
        #expect(result.operations == 10_000)
        #expect(result.corruption == 0 && result.errors == 0)
        #expect(result.recovered == true)
        #expect(result.recoveredSlots == 1024)
        #expect(document.ok)
    }

    @Test func concurrentBulkAndGrowingAllocatorsRecover() throws {
        var plan = RunPlan(command: .stress)
        plan.allocators = [.arena, .slabpool, .heap, .heapUnchecked]
        plan.capacity = 4096
        plan.stress = WorkloadStressTests.config(
            threads: 8, roles: [.bounce, .burst, .retire, .publisher, .reader],
            operations: 2_000, capacity: 4096)
        let document = try plan.run()
        #expect(document.results.map(\.allocator) == ["arena", "slabpool", "heap", "heap-unchecked"])
        for result in document.results {
            #expect(result.corruption == 0 && result.errors == 0)
            #expect(result.recovered == true)
            #expect((result.recoveredSlots ?? 0) >= 4096)
        }
    }

    // The bench plan's plumbing (every workload x allocator pair, the baseline ratio), not a
    // race hunt: not named `concurrent…`, so the TSan race loop does not repeat it 50 times
    // (a fifth of its CPU); the workloads' races are the `concurrentWorkload…` tests' job.
    @Test func benchPlanRunsEveryWorkloadOnFreeListAndBulkAllocators() throws {
        var plan = RunPlan(command: .bench)
        plan.allocators = [.freelist, .sharded, .heap, .heapUnchecked, .arena, .slabpool, .system]
        plan.workloads = [.randomMixed, .producerConsumer, .rag]
        plan.workload = WorkloadSuiteTests.smallConfig()
        plan.workload.limit = .operations(2_000)
        plan.bulkBytes = 64 << 20
        let document = try plan.run()
        #expect(document.results.count == 21)
        #expect(document.results.contains { $0.allocator == "heap-unchecked" })
        for result in document.results {
            #expect(result.corruption == 0, "\(result.workload)/\(result.allocator)")
            #expect(result.errors == 0, "\(result.workload)/\(result.allocator)")
            #expect(result.operations >= 2_000, "\(result.workload)/\(result.allocator)")
        }
        #expect(document.relativeToBaseline(document.results[0]) != nil)
    }
}
