import Benchmark
import OffHeap

let benchmarks: @Sendable () -> Void = {
    Benchmark("placeholder") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(VirtualMemory.pageSize) }
    }
}
