// Hyaline reclamation and the lock-free structures built on it.
//
//   cd Benchmarks && swift package benchmark --target HyalineBenchmarks --format markdown
//
// Single-thread benchmarks run `scalingFactor` (1 000) operations per measured iteration:
// read them per operation with `--scale`. Targets (issue): enter+leave uncontended ≤ 10 ns,
// retire amortised ≤ 30 ns. `enter()` returns a guard that retains the domain (two atomic
// reference-count operations); `withGuard` borrows it instead, which is the floor of the
// sticky-slot design (one seq-cst store to enter, one CAS to leave). The two-thread
// structure benchmarks do 2 × 50 000 push+pop pairs per iteration (thread start included,
// ~50 µs), with nodes from a shared FreeList and from a ShardedFreeList (per-thread
// magazines), and are reported next to the same work on a pthread-mutex-protected array
// measured in the same run.
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

    // The domain is new in every iteration: the thread's first enter leases its sticky slot
    // (a CAS, once per thread and domain), so each benchmark enters once before measuring.
    Benchmark("Hyaline enter+leave (uncontended)") { benchmark in
        let domain = try HyalineDomain()
        try domain.withGuard { _ in }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let guardian = try domain.enter()
            blackHole(guardian.slotIndex)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Hyaline withGuard enter+leave (uncontended, no retain)") { benchmark in
        let domain = try HyalineDomain()
        try domain.withGuard { _ in }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try domain.withGuard { guardian in blackHole(guardian.slotIndex) }
        }
        benchmark.stopMeasurement()
    }

    // The floor under the ≤ 10 ns enter+leave target on this machine, in this run.
    registerLockedPairReference(label: "Hyaline enter+leave floor (reference: C seq-cst store + CAS)")

    Benchmark("Hyaline enter+protect+leave (uncontended)") { benchmark in
        let domain = try HyalineDomain()
        let cell = try VirtualMemory.reserve(byteCount: 4096, committed: true)
        let link = cell.base.assumingMemoryBound(to: Atomic<UInt64>.self)
        link.initialize(to: Atomic(42))
        try domain.withGuard { _ in }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let guardian = try domain.enter()
            blackHole(guardian.protect(link))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Hyaline retire, amortised (1 thread, batch 64)") { benchmark in
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 1 << 16))
        let domain = try HyalineDomain(configuration: .init(batchThreshold: 64))
        let nodes = HyalinePoolReclaimer(pool)
        let id = try domain.register(nodes)
        let guardian = try domain.enter()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let node = try pool.allocate()
            try guardian.retire(node, birthEra: domain.currentEra, reclaimer: id)
        }
        benchmark.stopMeasurement()
    }

    retireOnlyBenchmark(nodes: "FreeList nodes") {
        try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 1 << 16))
    }
    retireOnlyBenchmark(nodes: "ShardedFreeList nodes") {
        try ShardedFreeList(configuration: .init(slotSize: 32, capacity: 1 << 16))
    }

    Benchmark("FreeList allocate+deallocate (reference for the retire figure)") { benchmark in
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 1 << 16))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let node = try pool.allocate()
            try pool.deallocate(node)
        }
        benchmark.stopMeasurement()
    }

    let pairs = 50_000
    let twoThreads = Benchmark.Configuration(
        metrics: [.wallClock], scalingFactor: .one, maxDuration: .seconds(3),
        maxIterations: 50)

    // The same 2-thread push+pop / enqueue+dequeue loops over nodes from a shared FreeList
    // and from a ShardedFreeList, next to the mutex baselines below (same run).
    let freeList = { () throws -> FreeList in
        try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 1 << 14))
    }
    let sharded = { () throws -> ShardedFreeList in
        try ShardedFreeList(configuration: .init(slotSize: 32, capacity: 1 << 14))
    }
    structureBenchmarks(pairs: pairs, configuration: twoThreads, nodes: "", makePool: freeList)
    structureBenchmarks(
        pairs: pairs, configuration: twoThreads, nodes: ", ShardedFreeList nodes",
        makePool: sharded)

    mutexBaselineBenchmark(
        "Mutex array push+pop, 2 threads × 50k (baseline)", pairs: pairs,
        configuration: twoThreads, fifo: false)
    mutexBaselineBenchmark(
        "Mutex ring enqueue+dequeue, 2 threads × 50k (baseline)", pairs: pairs,
        configuration: twoThreads, fifo: true)
}

/// Retire alone: the nodes are allocated before the measurement, which covers retiring them
/// inside one guard AND the leave that reclaims every batch (the reclaimer returns each node
/// to the pool): the whole amortised cost of reclamation, including the pool's free.
func retireOnlyBenchmark<Pool: FixedSizeAllocator>(
    nodes: String, makePool: @escaping () throws -> Pool
) {
    Benchmark("Hyaline retire + reclaim only, amortised (\(nodes) allocated beforehand)") {
        benchmark in
        let pool = try makePool()
        let domain = try HyalineDomain(configuration: .init(batchThreshold: 64))
        let id = try domain.register(HyalinePoolReclaimer(pool))
        let count = benchmark.scaledIterations.count
        let staged = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: count)
        defer { staged.deallocate() }
        for index in 0..<count { staged[index] = try pool.allocate() }
        benchmark.startMeasurement()
        try domain.withGuard { guardian throws(OffHeapError) in
            for index in 0..<count {
                try guardian.retire(staged[index], birthEra: domain.currentEra, reclaimer: id)
            }
            guardian.flushPending()
        }
        benchmark.stopMeasurement()
    }
}

/// Registers the stack and queue benchmarks with nodes from `makePool()`: each of 2 threads
/// does `pairs` push+pop (enqueue+dequeue) pairs.
func structureBenchmarks<Pool: FixedSizeAllocator>(
    pairs: Int, configuration: Benchmark.Configuration, nodes: String,
    makePool: @escaping () throws -> Pool
) {
    Benchmark("LockFreeStack push+pop, 2 threads × 50k\(nodes)", configuration: configuration) {
        benchmark in
        let stack = try LockFreeStack<UInt64, Pool>(pool: try makePool())
        benchmark.startMeasurement()
        try BenchThread.run(count: 2) { worker in
            for index in 0..<pairs {
                try? stack.push(UInt64(worker << 32 | index))
                blackHole(try? stack.pop())
            }
        }
        benchmark.stopMeasurement()
    }

    Benchmark(
        "LockFreeQueue enqueue+dequeue, 2 threads × 50k\(nodes)", configuration: configuration
    ) { benchmark in
        let queue = try LockFreeQueue<UInt64, Pool>(pool: try makePool())
        benchmark.startMeasurement()
        try BenchThread.run(count: 2) { worker in
            for index in 0..<pairs {
                try? queue.enqueue(UInt64(worker << 32 | index))
                blackHole(try? queue.dequeue())
            }
        }
        benchmark.stopMeasurement()
    }
}

/// Registers a mutex baseline for the structure benchmarks: each of 2 threads does `pairs`
/// push+pop pairs on one ``MutexArray``, popping from the back like the stack or, with
/// `fifo`, from the front like the queue (the choice is one predictable branch next to two
/// pthread mutex round trips).
func mutexBaselineBenchmark(
    _ name: String, pairs: Int, configuration: Benchmark.Configuration, fifo: Bool
) {
    Benchmark(name, configuration: configuration) { benchmark in
        let array = try MutexArray(capacity: 1 << 14)
        benchmark.startMeasurement()
        try BenchThread.run(count: 2) { worker in
            for index in 0..<pairs {
                array.push(UInt64(worker << 32 | index))
                blackHole(fifo ? array.popFirst() : array.popLast())
            }
        }
        benchmark.stopMeasurement()
    }
}

/// The baseline: a fixed-capacity array (LIFO end and FIFO ring) behind a pthread mutex.
final class MutexArray: @unchecked Sendable {
    // @unchecked Sendable: every access to the storage holds `mutex`.
    let mutex: BenchMutex
    let region: VirtualRegion
    let capacity: Int
    var start = 0
    var count = 0
    var storage: UnsafeMutablePointer<UInt64> { region.base.assumingMemoryBound(to: UInt64.self) }

    init(capacity: Int) throws {
        mutex = BenchMutex()
        self.capacity = capacity
        region = try VirtualMemory.reserve(byteCount: capacity * 8, committed: true)
    }

    deinit { try? VirtualMemory.release(region) }

    func push(_ value: UInt64) {
        mutex.withLock {
            guard count < capacity else { return }
            storage[(start + count) & (capacity - 1)] = value
            count += 1
        }
    }

    func popLast() -> UInt64? {
        mutex.withLock {
            guard count > 0 else { return nil }
            count -= 1
            return storage[(start + count) & (capacity - 1)]
        }
    }

    func popFirst() -> UInt64? {
        mutex.withLock {
            guard count > 0 else { return nil }
            let value = storage[start]
            start = (start + 1) & (capacity - 1)
            count -= 1
            return value
        }
    }
}
