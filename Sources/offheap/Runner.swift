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

/// The live progress line on a terminal (standard error).
final class Progress: @unchecked Sendable {
    // @unchecked Sendable: used only from the supervising thread.
    let enabled: Bool
    var dirty = false
    init(enabled: Bool) { self.enabled = enabled }

    func update(_ label: String, _ ops: UInt64, _ elapsedNs: UInt64) {
        guard enabled else { return }
        let seconds = Double(elapsedNs) / 1e9
        let rate = seconds > 0 ? Double(ops) / seconds / 1e6 : 0
        let line = String(format: "\r\u{1B}[K%@  %.1fs  %llu ops  %.2f M ops/s", label, seconds, ops, rate)
        FileHandle.standardError.write(Data(line.utf8))
        dirty = true
    }

    func note(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)\n".utf8))
        dirty = false
    }

    func finish() {
        if enabled && dirty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        dirty = false
    }
}

/// A plain-text table of a report (one row per result).
enum Summary {
    static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let gap = String(repeating: " ", count: max(width - text.count, 0))
        return left ? text + gap : gap + text
    }

    static func table(_ report: RunReport) -> String {
        let header = [
            pad("workload", 18, left: true), pad("allocator", 14, left: true), pad("threads", 7),
            pad("ops/s", 14), pad("ns/op", 10), pad("p50 ns", 8), pad("p99 ns", 8),
            pad("errors", 6), pad("corr", 6), pad("recovered", 9), pad("vs glibc", 8),
            pad("peak +MiB", 9), pad("freed +MiB", 10),
        ]
        // Resident memory above the process's at the row's start (rssBaseBytes).
        func mebibytes(_ r: RunReport.Result, _ name: String) -> String {
            guard let bytes = r.facts?[name], let base = r.facts?["rssBaseBytes"] else { return "-" }
            return String(format: "%.1f", (bytes - base) / 1_048_576)
        }
        var lines = [header.joined(separator: " ")]
        for r in report.results {
            let recovered = r.recovered.map { $0 ? "yes" : "NO" } ?? "-"
            let ratio = r.relativeToBaseline.map { String(format: "%.2fx", $0) } ?? "-"
            let cells = [
                pad(r.workload, 18, left: true), pad(r.allocator, 14, left: true),
                pad(String(r.threads), 7), pad(String(format: "%.0f", r.opsPerSecond), 14),
                pad(String(format: "%.1f", r.nsPerOp), 10), pad(String(r.p50Ns), 8),
                pad(String(r.p99Ns), 8), pad(String(r.errors), 6), pad(String(r.corruption), 6),
                pad(recovered, 9), pad(ratio, 8),
                pad(mebibytes(r, "rssPeakBytes"), 9), pad(mebibytes(r, "rssAfterFreeBytes"), 10),
            ]
            lines.append(cells.joined(separator: " "))
            for role in r.roles ?? [] {
                lines.append("  role \(pad(role.role, 9, left: true)) x\(role.lanes): \(role.operations) ops, \(role.validations) reads, \(role.crossThreadFrees) cross-thread frees, corruption \(role.corruption), errors \(role.errors)")
            }
            if let facts = r.facts, let peak = facts["hyalinePeakUnreclaimed"] {
                let controller = (facts["hyalineController"] ?? 0) > 0
                    ? ", PI controller: \(Int(facts["hyalineControllerTicks"] ?? 0)) ticks, \(Int(facts["hyalineControllerFlushes"] ?? 0)) flushes"
                    : ""
                lines.append("  hyaline: peak unreclaimed \(Int(peak)), reclaimed \(Int(facts["hyalineReclaimed"] ?? 0)) (\(Int(facts["hyalineReclaimCrossThread"] ?? 0)) cross-thread)\(controller)")
            }
        }
        lines.append(report.ok ? "ok" : "FAILED: corruption \(report.totals.corruption), errors \(report.totals.errors), failed recoveries \(report.totals.failedRecoveries)")
        return lines.joined(separator: "\n")
    }
}
