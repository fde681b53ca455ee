import COffHeapShims
import OffHeap
import Synchronization

extension StressWorker {
    /// The `stalled` role: one guard for the whole run. It protects every mailbox cell once
    /// (publishing the era of that moment as its access era), then stays inside until the
    /// publishers finish, sampling the domain's unreclaimed count every millisecond into
    /// ``HyalineExchange/stalledPeak``. Hyaline-S promises that this reader pins only
    /// batches holding a node born in or before its era, so the peak stays bounded however
    /// long it stalls and however many nodes the publishers retire meanwhile.
    mutating func stallUnderHyaline(board: Mailboxes, hyaline: HyalineExchange) {
        let token: HyalineGuard
        do throws(OffHeapError) { token = try hyaline.domain.enter() } catch {
            tally.count(error)
            return
        }
        for cell in 0..<board.cellCount { _ = token.protect(board.cells + cell) }
        var peak = hyaline.stalledPeak.load(ordering: .relaxed)
        if peak < 0 {
            _ = hyaline.stalledPeak.compareExchange(expected: -1, desired: 0, ordering: .relaxed)
            peak = 0
        }
        while !board.allPublishersFinished {
            let unreclaimed = Int(truncatingIfNeeded: hyaline.domain.statistics.unreclaimed)
            while unreclaimed > peak {
                let (done, seen) = hyaline.stalledPeak.compareExchange(
                    expected: peak, desired: unreclaimed, ordering: .relaxed)
                if done { break }
                peak = seen
            }
            _ = control.remaining(lane: lane, done: 0)
            PlatformThread.sleep(nanoseconds: 1_000_000)
        }
        token.leave()
    }
}
