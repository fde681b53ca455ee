import COffHeapHostShims
import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads

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
                lines.append(
                    "  role \(pad(role.role, 9, left: true)) x\(role.lanes): \(role.operations) ops, "
                        + "\(role.validations) reads, \(role.crossThreadFrees) cross-thread frees, "
                        + "corruption \(role.corruption), errors \(role.errors)")
            }
            if let facts = r.facts, let peak = facts["hyalinePeakUnreclaimed"] {
                func fact(_ name: String) -> Int { Int(facts[name] ?? 0) }
                let controller =
                    fact("hyalineController") > 0
                    ? ", PI controller: \(fact("hyalineControllerTicks")) ticks, "
                        + "\(fact("hyalineControllerFlushes")) flushes"
                    : ""
                lines.append(
                    "  hyaline: peak unreclaimed \(Int(peak)), reclaimed \(fact("hyalineReclaimed")) "
                        + "(\(fact("hyalineReclaimCrossThread")) cross-thread)\(controller)")
            }
        }
        let totals = report.totals
        lines.append(
            report.ok
                ? "ok"
                : "FAILED: corruption \(totals.corruption), errors \(totals.errors), "
                    + "failed recoveries \(totals.failedRecoveries)")
        return lines.joined(separator: "\n")
    }
}
