import OffHeap
import Synchronization

/// A 128-bit compare-and-swap counter: `first` counts successful CASes, `second` advances by
/// 3 with each, so a torn or lost update shows as `second != 3 * first` or a short count.
///
/// Invariant: the pair is only changed by `compareExchange` of the whole 16 bytes.
final class WordPairCounter: Sendable {
    let pair = Atomic<WordPair>(WordPair(first: 0, second: 0))
    init() {}
}

/// Whether `Atomic<WordPair>` (a double-width CAS: CMPXCHG16B, or LDXP/STXP / CASP on
/// aarch64) works: `threads` threads each add `increments` by CAS loops.
func smokeWordPairConcurrent(
    threads: Int, increments: Int, report: SmokeReport
) throws(OffHeapError) {
    let counter = WordPairCounter()
    try PlatformThread.run(count: threads) { _ in
        for _ in 0..<increments {
            var old = counter.pair.load(ordering: .relaxed)
            while true {
                let new = WordPair(first: old.first &+ 1, second: old.second &+ 3)
                let (exchanged, current) = counter.pair.compareExchange(
                    expected: old, desired: new, ordering: .acquiringAndReleasing)
                if exchanged { break }
                old = current
            }
        }
        report.count(increments)
    }
    if SmokeFault.current == .loseWordPairUpdate {
        let old = counter.pair.load(ordering: .acquiring)
        counter.pair.store(WordPair(first: old.first &- 1, second: old.second), ordering: .releasing)
    }
    let final = counter.pair.load(ordering: .acquiring)
    let expected = UInt(threads * increments)
    if final.first != expected || final.second != 3 &* expected {
        report.failed(
            "Atomic<WordPair> CAS",
            "count \(final.first), second \(final.second); expected \(expected), \(3 &* expected)")
    }
}
