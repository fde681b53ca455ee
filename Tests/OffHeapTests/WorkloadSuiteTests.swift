import OffHeap
import OffHeapWorkloads
import Testing

@Suite("Workloads")
struct WorkloadSuiteTests {
    static func smallConfig(threads: Int = 8) -> WorkloadConfig {
        var config = WorkloadConfig()
        config.threads = threads
        config.limit = .operations(8_000)
        config.workingSet = 40
        config.ragDimensions = 32
        config.ragVectors = 64
        config.ragQueries = 8
        config.ragTopK = 4
        config.larsonBlocks = 64
        config.larsonRounds = 400
        config.ringSize = 16
        config.churnBlocks = 32
        config.scratchWrites = 20
        config.sampleEvery = 8
        return config
    }

    @Test(arguments: WorkloadKind.allCases)
    func concurrentWorkloadRunsCleanAcross8Threads(_ kind: WorkloadKind) throws {
        let config = Self.smallConfig()
        let system = try SystemAllocator(slotSize: config.maxRequest(kind), capacity: config.liveBound(kind))
        let result = try Workloads.run(kind, on: system, allocatorName: "glibc", config: config)
        #expect(result.workload == kind.name)
        #expect(result.corruption == 0)
        #expect(result.errors == 0)
        #expect(result.exhausted == 0)
        #expect(result.operations >= 8_000)
        #expect(result.seconds > 0)
        #expect(result.latency.totalCount > 0)
        #expect(system.liveCount == 0, "every block freed")
    }

    @Test func concurrentWorkloadsThroughFixedSizeAdapter() throws {
        let config = Self.smallConfig()
        for kind in [WorkloadKind.randomMixed, .producerConsumer, .rag] {
            let fixed = try SystemAllocator(slotSize: config.maxRequest(kind), capacity: config.liveBound(kind))
            let result = try Workloads.run(kind, on: FixedSizeAdapter(fixed), allocatorName: "fixed", config: config)
            #expect(result.corruption == 0 && result.errors == 0)
            #expect(fixed.liveCount == 0)
        }
    }

    @Test func ragQueriesFindTheirSourceVector() throws {
        var config = Self.smallConfig(threads: 2)
        config.ragQueries = 16
        let result = try Workloads.run(.rag, on: try SystemAllocator(), allocatorName: "glibc", config: config)
        let recall = result.facts.first { $0.name == "recallAt1" }?.value
        #expect(recall == 1.0)
        #expect(result.facts.first { $0.name == "vectors" }?.value == 64)
    }

    @Test func workloadListsParse() throws {
        #expect(try WorkloadKind.parseList("all") == WorkloadKind.allCases)
        #expect(try WorkloadKind.parseList("rag,larson,rag") == [.rag, .larson])
        #expect(throws: OffHeapError.self) { try WorkloadKind.parseList("rag,nope") }
        var config = WorkloadConfig()
        config.minSize = 100
        config.maxSize = 50
        #expect(throws: OffHeapError.self) { try config.validate() }
    }
}
