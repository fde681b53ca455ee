// SizeClassHeap hot paths.
//
//   cd Benchmarks && swift package benchmark --target HeapBenchmarks --format markdown
//
// The pair benchmark runs `scalingFactor` (1 000) pairs per measured iteration (figures are
// per pair); the steady and cross-thread benchmarks do a whole batch per iteration (read
// per block: time ÷ batch). Targets (issue): alloc+free pair ≤ 5 ns, cross-thread free
// ≤ 120 ns per block; the peers (glibc, jemalloc, mimalloc, tcmalloc, and the inline C LIFO)
// run the same loops in the same run, so read the targets as ratios. Both modes are
// measured: `checked` (the default: double-free and interior-pointer detection) and
// `unchecked` (registry checks only, like malloc).
import Benchmark
import BenchmarkSupport
import OffHeap
import Synchronization

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    for checked in [true, false] {
        let mode = checked ? "checked" : "unchecked"
        // One heap per benchmark, made at registration and kept across iterations (the
        // closure runs once per iteration): a heap made inside the closure would put its
        // segment's mmap and first page faults inside every measurement, which the peers,
        // whose memory is process-wide and warm, never pay.
        let pairHeap = makeHeap(checked)
        let steadyHeap = makeHeap(checked)
        let remoteHeap = makeHeap(checked)

        Benchmark("SizeClassHeap alloc+free pair 64 B (\(mode))") { benchmark in
            let heap = pairHeap
            // Warm this thread's page for the class outside the measurement (iterations may
            // run on different threads of the benchmark runner).
            try heap.deallocate(try heap.allocate(byteCount: 64, alignment: 8))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let p = try heap.allocate(byteCount: 64, alignment: 8)
                blackHole(p)
                try heap.deallocate(p)
            }
            benchmark.stopMeasurement()
        }

        // Steady state: per iteration, 10 000 blocks of 256 B allocated, then all freed, on a
        // heap whose pages earlier iterations already mapped (read per pair: time ÷ 10 000).
        let blocks = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(
            capacity: steadyBlocks)
        Benchmark(
            "SizeClassHeap steady 10k x 256 B alloc then free, per 10k (\(mode))",
            configuration: perIterationConfiguration
        ) { benchmark in
            let heap = steadyHeap
            benchmark.startMeasurement()
            for index in 0..<steadyBlocks {
                blocks[index] = try heap.allocate(byteCount: 256, alignment: 8)
            }
            for block in blocks { try heap.deallocate(block) }
            benchmark.stopMeasurement()
        }

        // A producer allocates, a consumer thread frees (every free is remote); per
        // iteration 100 000 blocks, so the consumer's start is amortised (read per block:
        // time ÷ 100 000), including the handover ring.
        Benchmark(
            "SizeClassHeap cross-thread free 64 B, per 100k blocks (\(mode))",
            configuration: perIterationConfiguration
        ) { benchmark in
            let heap = remoteHeap
            let ring = HandoverRing(capacity: 1024)
            benchmark.startMeasurement()
            handOver(count: crossThreadBlocks, ring: ring, free: { try! heap.deallocate($0) }) {
                try! heap.allocate(byteCount: 64, alignment: 8)
            }
            benchmark.stopMeasurement()
        }
    }

    // The same loops through the peers, in this run: read the targets as ratios.
    registerPeerPairBenchmarks(label: "malloc+free pair 64 B", byteCount: 64)
    registerPeerSteadyBenchmarks(
        label: "steady 10k x 256 B malloc then free, per 10k", count: steadyBlocks, byteCount: 256)
    registerPeerCrossThreadBenchmarks(
        label: "cross-thread free 64 B, per 100k blocks", count: crossThreadBlocks, byteCount: 64)
}

let steadyBlocks = 10_000
let crossThreadBlocks = 100_000

func makeHeap(_ checked: Bool) -> SizeClassHeap {
    do {
        return try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
    } catch {
        fatalError("SizeClassHeap init failed: \(error)")
    }
}
