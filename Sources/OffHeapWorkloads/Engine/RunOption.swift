import OffHeap

/// The option table of `stress` and `bench`: every option's name, value, unit, range,
/// default and help, in one place. The Embedded `offheap-engine` parses with it
/// (``RunPlan/parse(_:)``), and the hosted `offheap` CLI declares its ArgumentParser options
/// from it (names, help, value lists), so both accept exactly the same command lines.
///
/// ```swift
/// RunOption.threads.flag                         // "--threads"
/// RunOption.threads.range                        // 1...4096
/// RunOption(flag: "--slot-size")?.valueName      // "bytes"
/// RunOption.hyaline.values.map { $0.name }       // ["on", "mixed", "off"]
/// ```
@frozen
public enum RunOption: CaseIterable, Equatable, Sendable {
    // Both commands.
    case allocator, threads, duration, operations, json, seed, sampleEvery
    // stress
    case roles, hyaline, noHyaline, hyalineController, hyalineBudget, plantCorruption
    case slotSize, capacity, burstSize, retireDepth, mailboxSize, interval
    // bench
    case workload, sizes, minSize, maxSize, workingSet, ragDimensions, ragVectors, ragQueries, ragTopK
    case larsonBlocks, larsonRounds, ringSize, churnBlocks, scratchSize, scratchWrites

    /// What an option's value is.
    @frozen
    public enum Value: Equatable, Sendable {
        /// A decimal integer in ``RunOption/range``.
        case integer
        /// A positive integer and a unit: `500ms`, `10s`, `2m`, `1h`.
        case duration
        /// One name, or a comma list of names (`all` for every one), of ``RunOption/values``.
        case choice(list: Bool)
        /// A file path (`-` for standard output).
        case path
        /// No value: the option alone is the setting.
        case flag
    }

    /// The long name without dashes (`slot-size`).
    public var name: String {
        switch self {
        case .allocator: return "allocator"
        case .threads: return "threads"
        case .duration: return "duration"
        case .operations: return "operations"
        case .json: return "json"
        case .seed: return "seed"
        case .sampleEvery: return "sample-every"
        case .roles: return "roles"
        case .hyaline: return "hyaline"
        case .noHyaline: return "no-hyaline"
        case .hyalineController: return "hyaline-controller"
        case .hyalineBudget: return "hyaline-budget"
        case .plantCorruption: return "plant-corruption"
        case .slotSize: return "slot-size"
        case .capacity: return "capacity"
        case .burstSize: return "burst-size"
        case .retireDepth: return "retire-depth"
        case .mailboxSize: return "mailbox-size"
        case .interval: return "interval"
        case .workload: return "workload"
        case .sizes: return "sizes"
        case .minSize: return "min-size"
        case .maxSize: return "max-size"
        case .workingSet: return "working-set"
        case .ragDimensions: return "rag-dimensions"
        case .ragVectors: return "rag-vectors"
        case .ragQueries: return "rag-queries"
        case .ragTopK: return "rag-top-k"
        case .larsonBlocks: return "larson-blocks"
        case .larsonRounds: return "larson-rounds"
        case .ringSize: return "ring-size"
        case .churnBlocks: return "churn-blocks"
        case .scratchSize: return "scratch-size"
        case .scratchWrites: return "scratch-writes"
        }
    }

    /// `--` and ``name``.
    public var flag: String { "--" + name }

    /// The option spelled `flag` (`--threads`), or `nil`.
    public init?(flag: String) {
        for option in RunOption.allCases where option.flag == flag {
            self = option
            return
        }
        return nil
    }

    /// Whether `command` takes the option.
    public func applies(to command: RunPlan.Command) -> Bool {
        switch self {
        case .allocator, .threads, .duration, .operations, .json, .seed, .sampleEvery:
            return true
        case .roles, .hyaline, .noHyaline, .hyalineController, .hyalineBudget, .plantCorruption,
            .slotSize, .capacity, .burstSize, .retireDepth, .mailboxSize, .interval:
            return command == .stress
        default:
            return command == .bench
        }
    }

    /// The kind of value the option takes.
    public var value: Value {
        switch self {
        case .allocator, .workload, .roles: return .choice(list: true)
        case .hyaline, .hyalineController: return .choice(list: false)
        case .duration, .interval: return .duration
        case .json: return .path
        case .noHyaline: return .flag
        default: return .integer
        }
    }

    /// The value's name in usage and help: its unit where it has one (`bytes`, `slots`).
    public var valueName: String {
        switch self {
        case .allocator: return "allocators"
        case .workload: return "workloads"
        case .roles: return "roles"
        case .hyaline, .hyalineController: return "mode"
        case .duration, .interval: return "duration"
        case .json: return "file"
        case .noHyaline: return ""
        case .threads: return "threads"
        case .operations: return "ops"
        case .seed: return "seed"
        case .sampleEvery, .plantCorruption: return "n"
        case .hyalineBudget, .capacity, .burstSize, .retireDepth: return "slots"
        case .mailboxSize, .ringSize: return "cells"
        case .slotSize, .sizes, .minSize, .maxSize, .scratchSize: return "bytes"
        case .workingSet, .larsonBlocks, .churnBlocks: return "blocks"
        case .ragDimensions: return "dims"
        case .ragVectors: return "vectors"
        case .ragQueries: return "queries"
        case .ragTopK: return "k"
        case .larsonRounds: return "ops"
        case .scratchWrites: return "writes"
        }
    }

    /// The integers an ``Value/integer`` option accepts (`nil` for other kinds). For
    /// ``interval``: the range in milliseconds.
    public var range: ClosedRange<Int>? {
        switch self {
        case .threads: return 1...4096
        case .operations: return 1...Int.max
        case .seed: return 0...Int.max
        case .sampleEvery: return 1...(1 << 20)
        case .hyalineBudget: return 1...(1 << 28)
        case .plantCorruption: return 0...(1 << 30)
        case .slotSize: return 8...(1 << 20)
        case .capacity: return 1...(1 << 28)
        case .burstSize: return 1...(1 << 16)
        case .retireDepth: return 1...(1 << 20)
        case .mailboxSize: return 1...(1 << 16)
        case .interval: return 1...60_000
        case .sizes, .minSize, .maxSize: return 8...(1 << 30)
        case .workingSet: return 1...(1 << 24)
        case .ragDimensions: return 1...(1 << 16)
        case .ragVectors: return 1...(1 << 24)
        case .ragQueries: return 0...(1 << 24)
        case .ragTopK: return 1...(1 << 16)
        case .larsonBlocks: return 1...(1 << 24)
        case .larsonRounds: return 1...(1 << 30)
        case .ringSize: return 1...(1 << 20)
        case .churnBlocks: return 2...(1 << 24)
        case .scratchSize: return 8...4096
        case .scratchWrites: return 1...(1 << 24)
        default: return nil
        }
    }

    /// The typed error's reason for a value outside ``range`` (or not a number, not a name).
    public var invalidReason: StaticString {
        switch self {
        case .allocator:
            return "--allocator must be freelist, sharded, arena, slabpool, heap, heap-unchecked, system or all"
        case .workload:
            return "--workload must be rag, larson, random-mixed, producer-consumer, thread-churn, cache-scratch or all"
        case .roles: return "--roles must be bounce, publisher, reader, burst, retire, stalled or all"
        case .hyaline: return "--hyaline must be on, mixed or off"
        case .hyalineController: return "--hyaline-controller must be on or off"
        case .duration: return "--duration must be a positive integer with a unit: 500ms, 10s, 2m or 1h"
        case .interval: return "--interval must be in 1ms...60s, with a unit: 100ms, 1s"
        case .json: return "--json needs a file name"
        case .noHyaline: return "--no-hyaline takes no value"
        case .threads: return "--threads must be an integer in 1...4096 (bench: a comma list of them)"
        case .operations: return "--operations must be a positive integer"
        case .seed: return "--seed must be a non-negative integer"
        case .sampleEvery: return "--sample-every must be an integer in 1...1048576"
        case .hyalineBudget: return "--hyaline-budget must be an integer in 1...268435456"
        case .plantCorruption: return "--plant-corruption must be an integer in 0...1073741824"
        case .slotSize: return "--slot-size must be an integer in 8...1048576"
        case .capacity: return "--capacity must be an integer in 1...268435456"
        case .burstSize: return "--burst-size must be an integer in 1...65536"
        case .retireDepth: return "--retire-depth must be an integer in 1...1048576"
        case .mailboxSize: return "--mailbox-size must be an integer in 1...65536"
        case .sizes: return "--sizes must be a comma list of distinct integers in 8...1073741824"
        case .minSize: return "--min-size must be an integer in 8...1073741824"
        case .maxSize: return "--max-size must be an integer in 8...1073741824"
        case .workingSet: return "--working-set must be an integer in 1...16777216"
        case .ragDimensions: return "--rag-dimensions must be an integer in 1...65536"
        case .ragVectors: return "--rag-vectors must be an integer in 1...16777216"
        case .ragQueries: return "--rag-queries must be an integer in 0...16777216"
        case .ragTopK: return "--rag-top-k must be an integer in 1...65536"
        case .larsonBlocks: return "--larson-blocks must be an integer in 1...16777216"
        case .larsonRounds: return "--larson-rounds must be an integer in 1...1073741824"
        case .ringSize: return "--ring-size must be an integer in 1...1048576"
        case .churnBlocks: return "--churn-blocks must be an integer in 2...16777216"
        case .scratchSize: return "--scratch-size must be an integer in 8...4096"
        case .scratchWrites: return "--scratch-writes must be an integer in 1...16777216"
        }
    }

    /// The names a ``Value/choice(list:)`` option accepts, each with one line of help
    /// (empty for other kinds). A list option also accepts `all`.
    public var values: [(name: String, summary: String)] {
        switch self {
        case .allocator: return RunOption.named(AllocatorChoice.self)
        case .workload: return RunOption.named(WorkloadKind.self)
        case .roles: return RunOption.named(StressRole.self)
        case .hyaline: return RunOption.named(HyalineMode.self)
        case .hyalineController: return RunOption.named(OnOff.self)
        default: return []
        }
    }

    static func named<C: RunChoice>(_ type: C.Type) -> [(name: String, summary: String)] {
        C.allCases.map { (name: $0.name, summary: $0.summary) }
    }

    /// What the option does, with its unit (no default: see ``defaultValue(_:)``).
    public var help: String {
        switch self {
        case .allocator: return "Allocators to run, one after the other: a comma list or all."
        case .threads: return "Worker threads; bench also takes a comma list, a scaling sweep (1,2,4)."
        case .duration:
            return "Run length per allocator (stress) or allocator and workload (bench): 500ms, 10s, 2m, 1h."
        case .operations: return "Run length as total operations per allocator/workload, instead of --duration."
        case .json: return "Write the run document (offheap.run/1) to this file ('-' for standard output)."
        case .seed: return "Random seed of the workers."
        case .sampleEvery: return "Time one operation in every n (a power of two)."
        case .roles:
            return "Worker roles, assigned to the threads round-robin: a comma list, or all (every role but stalled)."
        case .hyaline: return "How publishers hand slots to readers."
        case .noHyaline: return "Same as --hyaline off."
        case .hyalineController: return "Run the Hyaline domain's PI threshold controller."
        case .hyalineBudget:
            return
                "Slots the Hyaline exchange may hold before the controller sees pressure (default: twice its mailbox cells)."
        case .plantCorruption:
            return "Self-test: damage every n-th slot's pattern after writing it (0: never); the run must then fail."
        case .slotSize: return "Slot size in bytes."
        case .capacity: return "Slots the allocator holds; the recovery phase must get all of them back."
        case .burstSize: return "Slots per burst (burst role)."
        case .retireDepth: return "Slots a retire worker keeps alive."
        case .mailboxSize: return "Mailbox cells per publisher."
        case .interval: return "Timeline sampling interval: 100ms, 1s (1ms to 60s)."
        case .workload: return "Workloads to run: a comma list or all."
        case .sizes:
            return "A size sweep: the sized workloads (random-mixed, larson, producer-consumer, thread-churn) "
                + "run once per size, every request that size (16,64,256,1024); rows read WORKLOAD@SIZEB."
        case .minSize: return "Smallest request in bytes (random-mixed, larson, producer-consumer, thread-churn)."
        case .maxSize: return "Largest request in bytes."
        case .workingSet: return "Blocks each random-mixed thread keeps live."
        case .ragDimensions: return "RAG vector dimensions (Float32 each)."
        case .ragVectors: return "RAG vectors in the index."
        case .ragQueries: return "RAG top-k queries."
        case .ragTopK: return "RAG k: results per query (at most --rag-vectors)."
        case .larsonBlocks: return "Larson blocks per thread."
        case .larsonRounds: return "Larson operations per thread per generation."
        case .ringSize: return "Producer-consumer ring cells per pair."
        case .churnBlocks: return "Thread-churn blocks per thread per generation."
        case .scratchSize: return "Cache-scratch object size in bytes."
        case .scratchWrites: return "Cache-scratch writes per object."
        }
    }

    /// The value a run uses when the option is not given, in command-line form (`1s`,
    /// `heap,sharded`), read from a default ``RunPlan``; `nil` when there is none.
    public func defaultValue(_ command: RunPlan.Command) -> String? {
        let plan = RunPlan(command: command)
        let stress = plan.stress
        let workload = plan.workload
        switch self {
        case .allocator: return RunOption.list(plan.allocators)
        case .threads: return String(command == .stress ? stress.threads : workload.threads)
        case .duration: return (command == .stress ? stress.limit : workload.limit).description
        case .operations, .json, .hyalineBudget, .noHyaline, .sizes: return nil
        case .seed: return String(command == .stress ? stress.seed : workload.seed)
        case .sampleEvery: return String(command == .stress ? stress.sampleEvery : workload.sampleEvery)
        case .roles: return RunOption.list(stress.roles)
        case .hyaline: return HyalineMode(stress).name
        case .hyalineController: return stress.hyalineController ? "on" : "off"
        case .plantCorruption: return String(stress.plantCorruptionEvery)
        case .slotSize: return String(plan.slotSize)
        case .capacity: return String(plan.capacity)
        case .burstSize: return String(stress.burstSize)
        case .retireDepth: return String(stress.retireDepth)
        case .mailboxSize: return String(stress.mailboxSize)
        case .interval: return RunLimit.duration(nanoseconds: stress.intervalNanoseconds).description
        case .workload:
            return plan.workloads == WorkloadKind.allCases ? "all" : RunOption.list(plan.workloads)
        case .minSize: return String(workload.minSize)
        case .maxSize: return String(workload.maxSize)
        case .workingSet: return String(workload.workingSet)
        case .ragDimensions: return String(workload.ragDimensions)
        case .ragVectors: return String(workload.ragVectors)
        case .ragQueries: return String(workload.ragQueries)
        case .ragTopK: return String(workload.ragTopK)
        case .larsonBlocks: return String(workload.larsonBlocks)
        case .larsonRounds: return String(workload.larsonRounds)
        case .ringSize: return String(workload.ringSize)
        case .churnBlocks: return String(workload.churnBlocks)
        case .scratchSize: return String(workload.scratchSize)
        case .scratchWrites: return String(workload.scratchWrites)
        }
    }

    static func list<C: RunChoice>(_ choices: [C]) -> String {
        var text = ""
        for choice in choices {
            if !text.isEmpty { text += "," }
            text += choice.name
        }
        return text
    }

    /// `--name <value>` for usage lines.
    public var synopsis: String {
        value == .flag ? flag : "\(flag) <\(valueName)>"
    }
}
