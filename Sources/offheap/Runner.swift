import COffHeapHostShims
import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads

/// Runs a plan in this process, then each LD_PRELOAD peer in a child process (this same
/// executable, `--allocator system --peer-name P`), merges the documents so every figure is
/// a ratio measured in one run, writes the JSON and fails the process (exit 1) unless ok.
struct Runner {
    var common: CommonOptions
    var engineArguments: [String]

    func run() throws {
        let invocation = try parsePlan(engineArguments)
        let peers = try common.validatePeers()
        var plan = invocation.plan
        plan.systemName = common.peerName ?? "glibc"
        plan.observeSignals = true
        if peers.contains(.glibc) && !plan.allocators.contains(.system) {
            plan.allocators.append(.system)
        }
        RunStop.installHandlers()
        let progress = Progress(enabled: !common.quiet && offheap_isatty(2) != 0)
        let document = try plan.run { label, ops, elapsed in progress.update(label, ops, elapsed) }
        progress.finish()
        var report = RunReport(document)

        // `--peers all` runs the peers installed here; a peer named explicitly must be found.
        let resolved = try common.peerLibraries().resolve(peers, onlyInstalled: common.peers.text == "all")
        for peer in resolved.skipped {
            if !common.quiet {
                FileHandle.standardError.write(Data("offheap: peer \(peer.rawValue) skipped: \(peer.soname ?? peer.rawValue) not installed (--peer-library \(peer.rawValue)=PATH names it)\n".utf8))
            }
        }
        for (peer, library) in resolved.run where peer != .glibc {
            if RunStop.requested { break }
            guard let library else { continue }
            progress.note("peer \(peer.rawValue) (LD_PRELOAD=\(library))")
            report.merge(peer: try runPeer(peer, library: library), baseline: "glibc")
        }

        let data = try report.encoded()
        if let path = common.json {
            if path == "-" {
                FileHandle.standardOutput.write(data)
                FileHandle.standardOutput.write(Data("\n".utf8))
            } else {
                try data.write(to: URL(fileURLWithPath: path))
            }
        }
        if !common.quiet && common.json != "-" { print(Summary.table(report)) }
        if !report.ok {
            throw RunFailure(description: "corruption \(report.totals.corruption), errors \(report.totals.errors), failed recoveries \(report.totals.failedRecoveries)")
        }
    }

    /// Re-executes this binary with the peer preloaded and returns its document.
    func runPeer(_ peer: Peer, library: String) throws -> RunReport {
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("offheap-peer-\(peer.rawValue)-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = engineArguments
        // Only the system allocator runs under a preload; the peer names its rows.
        if let at = arguments.firstIndex(of: RunOption.allocator.flag) {
            arguments[at + 1] = AllocatorChoice.system.name
        } else {
            arguments += [RunOption.allocator.flag, AllocatorChoice.system.name]
        }
        arguments += ["--peers", "none", "--peer-name", peer.rawValue, "--json", output.path, "--quiet"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = library
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        let status = process.terminationStatus
        // 1 = the peer itself saw corruption or errors: its document still counts.
        guard status == 0 || status == 1, let data = try? Data(contentsOf: output) else {
            throw PeerError.childFailed(peer: peer.rawValue, status: status)
        }
        return try RunReport.decode(data)
    }
}
