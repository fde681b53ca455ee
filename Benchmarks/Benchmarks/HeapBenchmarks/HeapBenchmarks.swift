// SizeClassHeap hot paths.
//
//   cd Benchmarks && swift package benchmark --target HeapBenchmarks --format markdown
//
// Every benchmark runs `scalingFactor` (1 000) operations per measured iteration; read the
// figures per operation with `--scale`. Targets (issue): alloc+free pair ≤ 5 ns,
// cross-thread free ≤ 120 ns per block. Both modes are measured: `checked` (the default:
// double-free and interior-pointer detection) and `unchecked` (registry checks only).
import Benchmark
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

        Benchmark("SizeClassHeap alloc+free pair 64 B (\(mode))") { benchmark in
            let heap = makeHeap(checked)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let p = try heap.allocate(byteCount: 64, alignment: 8)
                blackHole(p)
                try heap.deallocate(p)
            }
            benchmark.stopMeasurement()
        }

        // Steady state: 10 000 live blocks of 256 B, all allocated then all freed, per
        // 1 000-operation iteration one tenth of the cycle (figures are per alloc+free).
        Benchmark("SizeClassHeap steady 10k x 256 B alloc/free (\(mode))") { benchmark in
            let heap = makeHeap(checked)
            let blocks = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(
                capacity: 10_000)
            defer { blocks.deallocate() }
            benchmark.startMeasurement()
            var index = 0
            for _ in benchmark.scaledIterations {
                blocks[index] = try heap.allocate(byteCount: 256, alignment: 8)
                index += 1
                if index == blocks.count {
                    for block in blocks { try heap.deallocate(block) }
                    index = 0
                }
            }
            for block in blocks[0..<index] { try heap.deallocate(block) }
            benchmark.stopMeasurement()
        }

        // Producer allocates, a consumer thread frees (every free is remote); measured per
        // block handed over, including the handover ring.
        Benchmark("SizeClassHeap cross-thread free 64 B (\(mode))") { benchmark in
            let heap = makeHeap(checked)
            let ring = HandoverRing(capacity: 1024)
            let count = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            let consumer = try! PlatformThread {
                for index in 0..<count {
                    let block = ring.take(index)
                    try! heap.deallocate(block)
                }
            }
            for index in 0..<count {
                ring.put(index, try heap.allocate(byteCount: 64, alignment: 8))
            }
            consumer.join()
            benchmark.stopMeasurement()
        }
    }
}

func makeHeap(_ checked: Bool) -> SizeClassHeap {
    do {
        return try SizeClassHeap(configuration: .init(checked: checked))
    } catch {
        fatalError("SizeClassHeap init failed: \(error)")
    }
}

/// Single-producer single-consumer slots: slot `i % capacity` carries block `i`.
final class HandoverRing: @unchecked Sendable {
    // @unchecked Sendable: the slots are atomics.
    let slots: UnsafeMutablePointer<Atomic<UInt>>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity { (slots + index).initialize(to: Atomic(0)) }
    }

    deinit { slots.deallocate() }

    func put(_ index: Int, _ block: UnsafeMutableRawPointer) {
        let slot = slots + index % capacity
        while slot.pointee.load(ordering: .acquiring) != 0 { PlatformThread.yield() }
        slot.pointee.store(UInt(bitPattern: block), ordering: .releasing)
    }

    func take(_ index: Int) -> UnsafeMutableRawPointer {
        let slot = slots + index % capacity
        var value = slot.pointee.load(ordering: .acquiring)
        while value == 0 {
            PlatformThread.yield()
            value = slot.pointee.load(ordering: .acquiring)
        }
        slot.pointee.store(0, ordering: .releasing)
        return UnsafeMutableRawPointer(bitPattern: value)!
    }
}
