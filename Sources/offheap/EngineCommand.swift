import ArgumentParser
import OffHeap
import OffHeapReports
import OffHeapWorkloads

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
