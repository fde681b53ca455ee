import ArgumentParser
import OffHeap
import OffHeapReports
import OffHeapWorkloads

/// Options shared by `stress` and `bench`. Names, help, value lists and defaults come from
/// ``RunOption`` (the table the Embedded `offheap-engine` parses with); the values are
/// forwarded as an engine argument list (`RunPlan.parse`), so the hosted CLI and the engine
/// accept and validate exactly the same options.
struct CommonOptions: ParsableArguments {
    @Option(name: .run(.allocator), help: .run(.allocator))
    var allocator: ChoiceList<AllocatorChoice>?
    @Option(name: .run(.threads), help: .run(.threads))
    var threads: ThreadCounts?
    @Option(name: .run(.duration), help: .run(.duration))
    var duration: String?
    @Option(name: .run(.operations), help: .run(.operations))
    var operations: Int?
    @Option(
        help: ArgumentHelp(
            "Peers run side by side under LD_PRELOAD, each compared with glibc: a comma list, "
                + "all (those installed here) or none.",
            valueName: "peers"))
    var peers: PeerList = PeerList(text: "none")
    @Option(
        name: .customLong("peer-library"),
        help: ArgumentHelp(
            "A peer's library as NAME=PATH (repeatable), instead of its soname in the multiarch "
                + "library directory.",
            valueName: "name=path"))
    var peerLibrary: [String] = []
    @Option(name: .run(.json), help: .run(.json))
    var json: String?
    @Flag(help: "No progress line and no summary table.")
    var quiet = false
    @Option(name: .run(.seed), help: .run(.seed))
    var seed: Int?
    @Option(name: .run(.sampleEvery), help: .run(.sampleEvery))
    var sampleEvery: Int?
    @Option(help: .hidden)
    var peerName: String?

    /// The table's options these properties carry, with their values (`nil`: not given).
    var given: [(RunOption, String?)] {
        [
            (.allocator, allocator?.text), (.threads, threads?.text),
            (.duration, duration), (.operations, operations.map { String($0) }),
            (.json, json), (.seed, seed.map { String($0) }),
            (.sampleEvery, sampleEvery.map { String($0) }),
        ]
    }

    func validatePeers() throws -> [Peer] {
        do {
            return try Peer.parseList(peers.text)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The peer libraries: the defaults found by soname plus the `--peer-library` overrides.
    func peerLibraries() throws -> PeerLibraries {
        var libraries = PeerLibraries()
        do {
            for text in peerLibrary { try libraries.addOverride(text) }
        } catch {
            throw ValidationError("\(error)")
        }
        return libraries
    }
}

/// The engine argument list of `given` options (`--json` stays with the hosted runner).
func engineArguments(_ command: RunPlan.Command, _ given: [(RunOption, String?)]) -> [String] {
    var args = [command.name]
    for (option, value) in given where option != .json {
        guard let value else { continue }
        args.append(option.flag)
        if option.value != .flag { args.append(value) }
    }
    return args
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
    static var command: RunPlan.Command { get }
    var common: CommonOptions { get }
    /// Every table option of ``command`` this command declares, with its value if given.
    var given: [(RunOption, String?)] { get }
}

extension EngineCommand {
    var engineArguments: [String] { offheap.engineArguments(Self.command, given) }

    func validate() throws {
        _ = try parsePlan(engineArguments)
        _ = try common.validatePeers()
        _ = try common.peerLibraries()
    }

    func run() throws {
        try Runner(common: common, engineArguments: engineArguments).run()
    }
}

struct StressCommand: EngineCommand {
    static let command = RunPlan.Command.stress
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract:
            "Hammer allocators with bounce/publisher/reader/burst/retire workers, verify every slot, "
            + "then exhaust and recover.",
        discussion: """
            Each allocator runs for --duration (or --operations) with --threads workers; every \
            slot written is verified before it is freed, and afterwards the allocator must hand \
            out its whole --capacity again. Exit status: 0 ok, 1 corruption or errors, 2 bad options.

            Examples:
              offheap stress
                  The defaults: heap and sharded, 2 bounce workers, 1 s each.
              offheap stress --allocator freelist,sharded,heap --roles all \\
                  --hyaline mixed --threads 6 --duration 10s
                  Every role; half the mailbox cells go through Hyaline.
              offheap stress --allocator heap --threads 4 --duration 2s \\
                  --roles publisher,stalled,reader,publisher
                  A Hyaline reader stays inside the whole run: its pinned
                  peak must stay under the stated bound.
              offheap stress --allocator sharded --roles all --threads 5 \\
                  --hyaline-controller on --interval 50ms --json stress.json
                  The PI threshold controller on, a timeline point every
                  50 ms, the run document written to stress.json.
            """)

    @OptionGroup var common: CommonOptions
    @Option(name: .run(.roles), help: .run(.roles))
    var roles: ChoiceList<StressRole>?
    @Option(name: .run(.hyaline), help: .run(.hyaline))
    var hyaline: Choice<HyalineMode>?
    @Flag(name: .run(.noHyaline), help: .run(.noHyaline))
    var noHyaline = false
    @Option(name: .run(.hyalineController), help: .run(.hyalineController))
    var hyalineController: Choice<OnOff>?
    @Option(name: .run(.hyalineBudget), help: .run(.hyalineBudget))
    var hyalineBudget: Int?
    @Option(name: .run(.plantCorruption), help: .run(.plantCorruption))
    var plantCorruption: Int?
    @Option(name: .run(.slotSize), help: .run(.slotSize))
    var slotSize: Int?
    @Option(name: .run(.capacity), help: .run(.capacity))
    var capacity: Int?
    @Option(name: .run(.burstSize), help: .run(.burstSize))
    var burstSize: Int?
    @Option(name: .run(.retireDepth), help: .run(.retireDepth))
    var retireDepth: Int?
    @Option(name: .run(.mailboxSize), help: .run(.mailboxSize))
    var mailboxSize: Int?
    @Option(name: .run(.interval), help: .run(.interval))
    var interval: String?

    var given: [(RunOption, String?)] {
        common.given + [
            (.roles, roles?.text), (.hyaline, hyaline?.text),
            (.noHyaline, noHyaline ? "" : nil), (.hyalineController, hyalineController?.text),
            (.hyalineBudget, hyalineBudget.map { String($0) }),
            (.plantCorruption, plantCorruption.map { String($0) }),
            (.slotSize, slotSize.map { String($0) }), (.capacity, capacity.map { String($0) }),
            (.burstSize, burstSize.map { String($0) }),
            (.retireDepth, retireDepth.map { String($0) }),
            (.mailboxSize, mailboxSize.map { String($0) }), (.interval, interval),
        ]
    }
}

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
