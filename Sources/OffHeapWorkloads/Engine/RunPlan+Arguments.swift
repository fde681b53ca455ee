import OffHeap

extension RunPlan {
    /// The result of parsing an `offheap-engine` command line.
    public struct Invocation: Sendable {
        public var plan: RunPlan
        /// `--json FILE` (`-` for standard output), if given.
        public var jsonPath: String?
    }

    /// Usage text of the tiny parser (the Embedded `offheap-engine`).
    public static let usage = """
        usage: offheap-engine stress|bench [--allocator LIST] [--threads N]
               [--duration 10s|500ms|2m|1h | --operations N] [--workload LIST|all]
               [--json FILE] [--slot-size N] [--capacity N] [--roles LIST|all] [--seed N]
               [--hyaline on|mixed|off] [--hyaline-controller on|off] [--hyaline-budget N]
               [--plant-corruption N]
               [--burst-size N] [--retire-depth N] [--mailbox-size N] [--sample-every N]
               [--min-size N] [--max-size N] [--working-set N] [--rag-dimensions N]
               [--rag-vectors N] [--rag-queries N] [--rag-top-k N] [--larson-blocks N]
               [--larson-rounds N] [--ring-size N] [--churn-blocks N] [--scratch-size N]
               [--scratch-writes N] [--interval-ms N]
        """

    /// Parses `stress|bench` and the `--name value` options (the same names as the hosted
    /// `offheap` CLI). Every problem is a typed `.invalidConfiguration` naming it.
    ///
    /// ```swift
    /// let invocation = try RunPlan.parse(["stress", "--threads", "4", "--duration", "2s"])
    /// ```
    public static func parse(_ arguments: [String]) throws(OffHeapError) -> Invocation {
        guard let first = arguments.first else {
            throw .invalidConfiguration(reason: "missing command: stress or bench")
        }
        var plan: RunPlan
        switch first {
        case "stress": plan = RunPlan(command: .stress)
        case "bench": plan = RunPlan(command: .bench)
        default: throw .invalidConfiguration(reason: "command must be stress or bench")
        }
        var jsonPath: String?
        var sawDuration = false
        var sawOperations = false
        var index = 1
        while index < arguments.count {
            let option = arguments[index]
            guard index + 1 < arguments.count else {
                throw .invalidConfiguration(reason: "an option is missing its value")
            }
            let value = arguments[index + 1]
            index += 2
            switch option {
            case "--allocator": plan.allocators = try AllocatorChoice.parseList(value)
            case "--threads":
                let n = try integer(value, in: 1...4096, "--threads must be an integer in 1...4096")
                plan.stress.threads = n
                plan.workload.threads = n
            case "--duration":
                let limit = try RunLimit.parseDuration(value)
                plan.stress.limit = limit
                plan.workload.limit = limit
                sawDuration = true
            case "--operations":
                let limit = RunLimit.operations(UInt64(try integer(value, in: 1...Int.max, "--operations must be a positive integer")))
                plan.stress.limit = limit
                plan.workload.limit = limit
                sawOperations = true
            case "--workload": plan.workloads = try WorkloadKind.parseList(value)
            case "--json": jsonPath = value
            case "--slot-size": plan.slotSize = try integer(value, in: 8...(1 << 20), "--slot-size must be an integer in 8...1048576")
            case "--capacity": plan.capacity = try integer(value, in: 1...(1 << 28), "--capacity must be an integer in 1...268435456")
            case "--roles": plan.stress.roles = try StressRole.parseList(value)
            case "--hyaline":
                switch value {
                case "on":
                    plan.stress.hyaline = true
                    plan.stress.hyalineMixed = false
                case "mixed":
                    plan.stress.hyaline = true
                    plan.stress.hyalineMixed = true
                case "off":
                    plan.stress.hyaline = false
                    plan.stress.hyalineMixed = false
                default: throw .invalidConfiguration(reason: "--hyaline must be on, mixed or off")
                }
            case "--hyaline-controller":
                switch value {
                case "on": plan.stress.hyalineController = true
                case "off": plan.stress.hyalineController = false
                default: throw .invalidConfiguration(reason: "--hyaline-controller must be on or off")
                }
            case "--hyaline-budget":
                plan.stress.hyalineBudget = try integer(value, in: 1...(1 << 28), "--hyaline-budget must be an integer in 1...268435456")
            case "--plant-corruption":
                plan.stress.plantCorruptionEvery = try integer(value, in: 0...(1 << 30), "--plant-corruption must be an integer in 0...1073741824")
            case "--seed":
                let seed = UInt64(try integer(value, in: 0...Int.max, "--seed must be a non-negative integer"))
                plan.stress.seed = seed
                plan.workload.seed = seed
            case "--burst-size": plan.stress.burstSize = try integer(value, in: 1...(1 << 16), "--burst-size must be an integer in 1...65536")
            case "--retire-depth": plan.stress.retireDepth = try integer(value, in: 1...(1 << 20), "--retire-depth must be an integer in 1...1048576")
            case "--mailbox-size": plan.stress.mailboxSize = try integer(value, in: 1...(1 << 16), "--mailbox-size must be an integer in 1...65536")
            case "--sample-every":
                let n = try integer(value, in: 1...(1 << 20), "--sample-every must be an integer in 1...1048576")
                plan.stress.sampleEvery = n
                plan.workload.sampleEvery = n
            case "--interval-ms":
                plan.stress.intervalNanoseconds = UInt64(try integer(value, in: 1...60_000, "--interval-ms must be an integer in 1...60000")) * 1_000_000
            case "--min-size": plan.workload.minSize = try integer(value, in: 8...(1 << 30), "--min-size must be an integer in 8...1073741824")
            case "--max-size": plan.workload.maxSize = try integer(value, in: 8...(1 << 30), "--max-size must be an integer in 8...1073741824")
            case "--working-set": plan.workload.workingSet = try integer(value, in: 1...(1 << 24), "--working-set must be an integer in 1...16777216")
            case "--rag-dimensions": plan.workload.ragDimensions = try integer(value, in: 1...(1 << 16), "--rag-dimensions must be an integer in 1...65536")
            case "--rag-vectors": plan.workload.ragVectors = try integer(value, in: 1...(1 << 24), "--rag-vectors must be an integer in 1...16777216")
            case "--rag-queries": plan.workload.ragQueries = try integer(value, in: 0...(1 << 24), "--rag-queries must be an integer in 0...16777216")
            case "--rag-top-k": plan.workload.ragTopK = try integer(value, in: 1...(1 << 16), "--rag-top-k must be an integer in 1...65536")
            case "--larson-blocks": plan.workload.larsonBlocks = try integer(value, in: 1...(1 << 24), "--larson-blocks must be an integer in 1...16777216")
            case "--larson-rounds": plan.workload.larsonRounds = try integer(value, in: 1...(1 << 30), "--larson-rounds must be an integer in 1...1073741824")
            case "--ring-size": plan.workload.ringSize = try integer(value, in: 1...(1 << 20), "--ring-size must be an integer in 1...1048576")
            case "--churn-blocks": plan.workload.churnBlocks = try integer(value, in: 2...(1 << 24), "--churn-blocks must be an integer in 2...16777216")
            case "--scratch-size": plan.workload.scratchSize = try integer(value, in: 8...4096, "--scratch-size must be an integer in 8...4096")
            case "--scratch-writes": plan.workload.scratchWrites = try integer(value, in: 1...(1 << 24), "--scratch-writes must be an integer in 1...16777216")
            default: throw .invalidConfiguration(reason: "unknown option (see usage)")
            }
        }
        if sawDuration && sawOperations {
            throw .invalidConfiguration(reason: "give --duration or --operations, not both")
        }
        try plan.validate()
        return Invocation(plan: plan, jsonPath: jsonPath)
    }

    /// A decimal integer in `range`, or `.invalidConfiguration`.
    public static func integer(
        _ text: String, in range: ClosedRange<Int>, _ reason: StaticString
    ) throws(OffHeapError) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw .invalidConfiguration(reason: reason)
        }
        return value
    }
}
