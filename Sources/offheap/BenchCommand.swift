import ArgumentParser
import OffHeap
import OffHeapReports
import OffHeapWorkloads

struct BenchCommand: EngineCommand {
    static let command = RunPlan.Command.bench
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Run the workloads (rag, larson, random-mixed, producer-consumer, thread-churn, "
            + "cache-scratch) against allocators and peers.",
        discussion: """
            Every workload runs against every allocator for --duration (or --operations), then \
            each peer re-runs the system allocator's rows under LD_PRELOAD; ratios are against \
            glibc measured in the same run. Exit status: 0 ok, 1 corruption, errors or a failed \
            peer, 2 bad options.

            Examples:
              offheap bench
                  The defaults: every workload on heap and sharded, 1 s each.
              offheap bench --allocator heap,heap-unchecked,system \\
                  --peers all --duration 2s
                  The heap checked and unchecked against glibc and every
                  peer installed here.
              offheap bench --workload larson,random-mixed --threads 4 \\
                  --min-size 16 --max-size 4096
                  Two workloads, 4 threads, requests of 16 B to 4 KiB.
              offheap bench --workload larson --allocator heap-unchecked \
                  --peers mimalloc --threads 1,2,4
                  A scaling sweep: each allocator at 1, 2 and 4 threads.
              offheap bench --workload random-mixed --allocator heap-unchecked \
                  --peers mimalloc --sizes 16,64,256,1024
                  A size sweep: every request 16, 64, 256, then 1024 bytes.
              offheap bench --workload rag --rag-dimensions 768 \\
                  --rag-vectors 4096 --operations 100000 --json rag.json
                  RAG at 768 dimensions for 100000 operations, the run
                  document written to rag.json.
            """)

    @OptionGroup var common: CommonOptions
    @Option(name: .run(.workload), help: .run(.workload))
    var workload: ChoiceList<WorkloadKind>?
    @Option(name: .run(.sizes), help: .run(.sizes)) var sizes: SizeList?
    @Option(name: .run(.minSize), help: .run(.minSize)) var minSize: Int?
    @Option(name: .run(.maxSize), help: .run(.maxSize)) var maxSize: Int?
    @Option(name: .run(.workingSet), help: .run(.workingSet)) var workingSet: Int?
    @Option(name: .run(.ragDimensions), help: .run(.ragDimensions)) var ragDimensions: Int?
    @Option(name: .run(.ragVectors), help: .run(.ragVectors)) var ragVectors: Int?
    @Option(name: .run(.ragQueries), help: .run(.ragQueries)) var ragQueries: Int?
    @Option(name: .run(.ragTopK), help: .run(.ragTopK)) var ragTopK: Int?
    @Option(name: .run(.larsonBlocks), help: .run(.larsonBlocks)) var larsonBlocks: Int?
    @Option(name: .run(.larsonRounds), help: .run(.larsonRounds)) var larsonRounds: Int?
    @Option(name: .run(.ringSize), help: .run(.ringSize)) var ringSize: Int?
    @Option(name: .run(.churnBlocks), help: .run(.churnBlocks)) var churnBlocks: Int?
    @Option(name: .run(.scratchSize), help: .run(.scratchSize)) var scratchSize: Int?
    @Option(name: .run(.scratchWrites), help: .run(.scratchWrites)) var scratchWrites: Int?

    var given: [(RunOption, String?)] {
        let integers: [(RunOption, Int?)] = [
            (.minSize, minSize), (.maxSize, maxSize), (.workingSet, workingSet),
            (.ragDimensions, ragDimensions), (.ragVectors, ragVectors), (.ragQueries, ragQueries),
            (.ragTopK, ragTopK), (.larsonBlocks, larsonBlocks), (.larsonRounds, larsonRounds),
            (.ringSize, ringSize), (.churnBlocks, churnBlocks), (.scratchSize, scratchSize),
            (.scratchWrites, scratchWrites),
        ]
        return common.given + [(.workload, workload?.text), (.sizes, sizes?.text)]
            + integers.map { ($0.0, $0.1.map { String($0) }) }
    }
}
