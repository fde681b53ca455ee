// Arena hot paths, one thread: the shared bump pointer (one fetch-add per block) against
// the thread-owned `Arena.Local` view (plain arithmetic plus two relaxed loads per block,
// one compare-exchange per 64 KiB chunk).
//
//   cd Benchmarks && swift package benchmark --target ArenaBenchmarks --format markdown
//
// Every benchmark runs `scalingFactor` (1 000) allocations per measured iteration; read the
// figures per operation with `--scale`. Target (issue): Arena allocate ≤ 3 ns — met only by
// the Local view; a locked RMW alone costs more than that on the project VM.
//
// Measured 2026-11-21 on the project VM under heavy load (load average ~11 on 2 vCPUs,
// other engineers' builds and a TSan build running), `swift package benchmark --target
// ArenaBenchmarks --format markdown --scale`, per allocation (p0 / p50 / p90, derived from
// the per-1 000 wall clock and throughput columns):
//   Arena allocate 16 B (shared, fetch-add)      9.6 / 10.9 / 11.9 ns
//   Arena.Local allocate 16 B                    2.1 / 2.7 / 4.1 ns
//   Arena.Local allocate UInt64 x 3 (typed)      2.7 / 3.4 / 5.8 ns
// Before the view rounded blocks to the granule (so small alignments skip the align step),
// Local 16 B measured 2.3 / 4.1 / 4.8 ns in the same conditions. The Local loop compiles
// to ~20 instructions with no call, RMW or ARC traffic; the loop-carried cost is the
// cursor's store/reload through the view (it lives in memory because the slow path takes
// it inout). Re-measure on a quiet machine before quoting.

import Benchmark
import OffHeap

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    // A fresh arena per measured iteration (1 000 × 16 B fits many times over); creating it
    // is outside the measurement.
    Benchmark("Arena allocate 16 B (shared, fetch-add)") { benchmark in
        let arena = try Arena(capacity: 1 << 20)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try arena.allocate(byteCount: 16, alignment: 16))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Arena.Local allocate 16 B (64 KiB chunks)") { benchmark in
        try measureLocalView(benchmark) { local in
            blackHole(try local.allocate(byteCount: 16, alignment: 16))
        }
    }

    Benchmark("Arena.Local allocate UInt64 x 3 (typed, 64 KiB chunks)") { benchmark in
        try measureLocalView(benchmark) { local in
            blackHole(try local.allocate(UInt64.self, count: 3).baseAddress)
        }
    }
}

/// Measures `allocate` run `scaledIterations` times on the `Arena.Local` view (64 KiB chunks)
/// of a fresh 1 MiB arena; creating them is outside the measurement. Always inlined, with a
/// non-escaping closure, so the measured loop is the same code as written out in place.
@inline(__always)
func measureLocalView(
    _ benchmark: Benchmark, _ allocate: (inout Arena.Local) throws -> Void
) throws {
    let arena = try Arena(capacity: 1 << 20)
    var local = try arena.makeLocal()
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations { try allocate(&local) }
    benchmark.stopMeasurement()
}
