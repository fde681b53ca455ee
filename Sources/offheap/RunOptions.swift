import ArgumentParser
import OffHeap
import OffHeapReports
import OffHeapWorkloads

/// Options shared by `stress` and `bench`. They are forwarded as an engine argument list
/// (`RunPlan.parse`), so the hosted CLI and the Embedded `offheap-engine` accept and
/// validate exactly the same options.
struct CommonOptions: ParsableArguments {
    @Option(help: "Allocators: freelist, sharded, arena, slabpool, heap, heap-unchecked, system (comma list or all).")
    var allocator: String = "system"
    @Option(help: "Worker threads.")
    var threads: Int = 2
    @Option(help: "Run length per allocator/workload: 500ms, 10s, 2m, 1h (default 1s).")
    var duration: String?
    @Option(help: "Total operations per allocator/workload instead of a duration.")
    var operations: Int?
    @Option(help: "Peers run side by side: glibc, jemalloc, mimalloc, tcmalloc, all, none.")
    var peers: String = "none"
    @Option(help: "Write the run document (offheap.run/1) to FILE ('-' for standard output).")
    var json: String?
    @Flag(help: "No progress line and no summary table.")
    var quiet = false
    @Option(help: "Random seed.")
    var seed: Int?
    @Option(help: "Time one operation in every N (a power of two).")
    var sampleEvery: Int?
    @Option(help: .hidden)
    var peerName: String?

    var engineArguments: [String] {
        var args = ["--allocator", allocator, "--threads", String(threads)]
        if let duration { args += ["--duration", duration] }
        if let operations { args += ["--operations", String(operations)] }
        if let seed { args += ["--seed", String(seed)] }
        if let sampleEvery { args += ["--sample-every", String(sampleEvery)] }
        return args
    }

    func validatePeers() throws -> [Peer] {
        do {
            return try Peer.parseList(peers)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

func appendOption(_ args: inout [String], _ name: String, _ value: Int?) {
    if let value { args += [name, String(value)] }
}

/// Parses the engine argument list, turning a typed error into a usage error (exit 2).
func parsePlan(_ arguments: [String]) throws -> RunPlan.Invocation {
    do {
        return try RunPlan.parse(arguments)
    } catch {
        throw ValidationError(error.description)
    }
}

/// A command that runs the engine (`stress`, `bench`): its options become engine arguments,
/// validated by the engine's own parser, and peers re-run it under LD_PRELOAD.
protocol EngineCommand: ParsableCommand {
    var common: CommonOptions { get }
    var engineArguments: [String] { get }
}

extension EngineCommand {
    func validate() throws {
        _ = try parsePlan(engineArguments)
        _ = try common.validatePeers()
    }

    func run() throws {
        try Runner(common: common, engineArguments: engineArguments).run()
    }
}

struct StressCommand: EngineCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Hammer allocators with bounce/publisher/reader/burst/retire workers, verify every slot, then exhaust and recover.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Worker roles, assigned round-robin: bounce, publisher, reader, burst, retire (comma list or all).")
    var roles: String?
    @Option(help: "Publisher/reader under a Hyaline domain (on, the default), by exchange (off), or both: even mailbox cells under Hyaline, odd cells taken and freed by readers (mixed).")
    var hyaline: String?
    @Option(help: "Run the Hyaline domain's PI threshold controller (on/off, default off).")
    var hyalineController: String?
    @Option(help: "Slots the Hyaline exchange may hold before the controller sees pressure (default: twice its mailbox cells).")
    var hyalineBudget: Int?
    @Option(help: "Self-test: damage every N-th slot's pattern after writing it; the run must then fail.")
    var plantCorruption: Int?
    @Option(help: "Slot size in bytes.") var slotSize: Int?
    @Option(help: "Slots the allocator holds; the recovery phase must get all of them back.")
    var capacity: Int?
    @Option(help: "Slots per burst.") var burstSize: Int?
    @Option(help: "Slots a retire worker keeps alive.") var retireDepth: Int?
    @Option(help: "Mailbox cells per publisher.") var mailboxSize: Int?
    @Option(help: "Timeline interval in milliseconds.") var intervalMs: Int?

    var engineArguments: [String] {
        var args = ["stress"] + common.engineArguments
        if let roles { args += ["--roles", roles] }
        if let hyaline { args += ["--hyaline", hyaline] }
        if let hyalineController { args += ["--hyaline-controller", hyalineController] }
        appendOption(&args, "--hyaline-budget", hyalineBudget)
        appendOption(&args, "--plant-corruption", plantCorruption)
        appendOption(&args, "--slot-size", slotSize)
        appendOption(&args, "--capacity", capacity)
        appendOption(&args, "--burst-size", burstSize)
        appendOption(&args, "--retire-depth", retireDepth)
        appendOption(&args, "--mailbox-size", mailboxSize)
        appendOption(&args, "--interval-ms", intervalMs)
        return args
    }
}

struct BenchCommand: EngineCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the workloads (rag, larson, random-mixed, producer-consumer, thread-churn, cache-scratch) against allocators and peers.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Workloads: rag, larson, random-mixed, producer-consumer, thread-churn, cache-scratch (comma list or all).")
    var workload: String = "all"
    @Option(help: "Smallest request (random-mixed, larson, producer-consumer, thread-churn).")
    var minSize: Int?
    @Option(help: "Largest request.") var maxSize: Int?
    @Option(help: "Blocks each random-mixed thread keeps live.") var workingSet: Int?
    @Option(help: "RAG vector dimensions.") var ragDimensions: Int?
    @Option(help: "RAG vectors in the index.") var ragVectors: Int?
    @Option(help: "RAG top-k queries.") var ragQueries: Int?
    @Option(help: "RAG k.") var ragTopK: Int?
    @Option(help: "Larson blocks per thread.") var larsonBlocks: Int?
    @Option(help: "Larson operations per thread per generation.") var larsonRounds: Int?
    @Option(help: "Producer-consumer ring cells per pair.") var ringSize: Int?
    @Option(help: "Thread-churn blocks per thread per generation.") var churnBlocks: Int?
    @Option(help: "Cache-scratch object size.") var scratchSize: Int?
    @Option(help: "Cache-scratch writes per object.") var scratchWrites: Int?

    var engineArguments: [String] {
        var args = ["bench"] + common.engineArguments + ["--workload", workload]
        appendOption(&args, "--min-size", minSize)
        appendOption(&args, "--max-size", maxSize)
        appendOption(&args, "--working-set", workingSet)
        appendOption(&args, "--rag-dimensions", ragDimensions)
        appendOption(&args, "--rag-vectors", ragVectors)
        appendOption(&args, "--rag-queries", ragQueries)
        appendOption(&args, "--rag-top-k", ragTopK)
        appendOption(&args, "--larson-blocks", larsonBlocks)
        appendOption(&args, "--larson-rounds", larsonRounds)
        appendOption(&args, "--ring-size", ringSize)
        appendOption(&args, "--churn-blocks", churnBlocks)
        appendOption(&args, "--scratch-size", scratchSize)
        appendOption(&args, "--scratch-writes", scratchWrites)
        return args
    }
}
