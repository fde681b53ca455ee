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
