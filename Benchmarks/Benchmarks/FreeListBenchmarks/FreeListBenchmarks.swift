// FreeList hot paths (and an Arena reference point), one thread.
//
//   cd Benchmarks && swift package benchmark --target FreeListBenchmarks --format markdown
//
// Every benchmark runs `scalingFactor` (1 000) operations per measured iteration; read the
// figures per operation with `--scale`. Targets (issue): alloc+free pair ≤ 25 ns, a batch of
// 32 through one CAS ≤ 3 ns per slot (= 96 ns per batch of 32 alloc + 32 free).
import Benchmark
import OffHeap

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    for checking in [OffHeapChecking.checked, .unchecked] {
        let name = checking == .checked ? "checked" : "unchecked"

        Benchmark("FreeList alloc+free pair (\(name))") { benchmark in
            let pool = makePool(checking)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let p = try pool.allocate()
                blackHole(p)
                try pool.deallocate(p)
            }
            benchmark.stopMeasurement()
        }

        Benchmark("FreeList batch of 32 alloc+free, per batch (\(name))") { benchmark in
            let pool = makePool(checking)
            let slots = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 32)
            defer { slots.deallocate() }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let count = try pool.allocate(into: slots)
                blackHole(count)
                try pool.deallocate(contentsOf: UnsafeBufferPointer(slots))
            }
            benchmark.stopMeasurement()
        }
    }

    // Reference point: bump allocation from an Arena (one CAS), reset after each 1 000.
    Benchmark("Arena allocate 64 B") { benchmark in
        let arena: Arena
        do { arena = try Arena(capacity: 1 << 20) } catch { fatalError("Arena init failed: \(error)") }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try arena.allocate(byteCount: 64, alignment: 16))
        }
        benchmark.stopMeasurement()
        try arena.reset()
    }

    Benchmark("FreeList Slot handle alloc+free pair (checked)") { benchmark in
        let pool = makePool(.checked)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let slot = try pool.allocateSlot()
            blackHole(slot.pointer)
            try pool.deallocate(slot)
        }
        benchmark.stopMeasurement()
    }
}

private func makePool(_ checking: OffHeapChecking) -> FreeList {
    do {
        return try FreeList(configuration:
            .init(slotSize: 64, capacity: 4096, growth: .preallocate(populate: true),
                  checking: checking))
    } catch {
        fatalError("FreeList init failed: \(error)")
    }
}
