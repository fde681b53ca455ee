import COffHeapHostShims
import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads

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
