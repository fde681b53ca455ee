// Peer allocators measured in the same benchmark run as ours, so that targets are read as
// ratios (ours ÷ peer) rather than as absolute figures that move with the machine.
import Benchmark
import BenchmarkPeersC
import OffHeap
import Synchronization

/// A peer `malloc`/`free` pair from a Debian package, opened in-process (see
/// BenchmarkPeersC.h). Peers whose package is not installed are left out.
public struct PeerAllocator: @unchecked Sendable {
    public let name: String
    public let malloc: bp_malloc_fn
    public let free: bp_free_fn

    /// glibc, jemalloc, mimalloc and tcmalloc, in that order, as far as installed
    /// (`apt-get install libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4`) and loadable.
    /// jemalloc's initial-exec TLS is larger than the static TLS glibc keeps for `dlopen`
    /// ("cannot allocate memory in static TLS block"), so it is left out unless the run
    /// reserves more: `GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 swift package
    /// benchmark …`. (The workload engine measures every peer, jemalloc included, through
    /// `LD_PRELOAD` instead.)
    public static let available: [PeerAllocator] = {
        let candidates: [(String, String, String, String)] = [
            ("glibc", "libc.so.6", "malloc", "free"),
            ("jemalloc", "libjemalloc.so.2", "malloc", "free"),
            ("mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free"),
            ("tcmalloc", "libtcmalloc_minimal.so.4", "tc_malloc", "tc_free"),
        ]
        return candidates.compactMap { name, library, mallocName, freeName in
            var allocate: bp_malloc_fn?
            var release: bp_free_fn?
            guard bp_open_peer(library, mallocName, freeName, &allocate, &release) == 0,
                let allocate, let release
            else { return nil }
            return PeerAllocator(name: name, malloc: allocate, free: release)
        }
    }()
}

/// Registers, for every available peer, "`label` (peer NAME)": `malloc(byteCount)`,
/// `blackHole`, `free`, once per scaled iteration — the same loop shape as our pair
/// benchmarks — plus the inline C LIFO reference for fixed-size blocks.
public func registerPeerPairBenchmarks(label: String, byteCount: Int) {
    for peer in PeerAllocator.available {
        Benchmark("\(label) (peer \(peer.name))") { benchmark in
            // Warm the peer's thread cache for this size outside the measurement.
            peer.free(peer.malloc(byteCount))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let p = peer.malloc(byteCount)
                blackHole(p)
                peer.free(p)
            }
            benchmark.stopMeasurement()
        }
    }
    Benchmark("\(label) (reference: inline C LIFO)") { benchmark in
        let blocks = UnsafeMutableRawPointer.allocate(byteCount: 64 * byteCount, alignment: 64)
        defer { blocks.deallocate() }
        var lifo = bp_lifo(head: nil)
        for index in 0..<64 { bp_lifo_push(&lifo, blocks + index * byteCount) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let p = bp_lifo_pop(&lifo)
            blackHole(p)
            bp_lifo_push(&lifo, p!)
        }
        benchmark.stopMeasurement()
    }
}

/// Registers, for every available peer, "`label` (peer NAME)": per iteration, `count`
/// blocks of `byteCount` allocated, then all freed (read per pair: time ÷ `count`). The
/// shape of HeapBenchmarks' steady-state benchmark.
public func registerPeerSteadyBenchmarks(label: String, count: Int, byteCount: Int) {
    for peer in PeerAllocator.available {
        let blocks = UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>.allocate(
            capacity: count)
        Benchmark("\(label) (peer \(peer.name))", configuration: perIterationConfiguration) {
            benchmark in
            benchmark.startMeasurement()
            for index in 0..<count { blocks[index] = peer.malloc(byteCount) }
            for block in blocks { peer.free(block) }
            benchmark.stopMeasurement()
        }
    }
}

/// Registers, for every available peer, "`label` (peer NAME)": per iteration, this thread
/// allocates `count` blocks of `byteCount` and hands each to a consumer thread that frees
/// it (every free is remote), through a ``HandoverRing`` (read per block: time ÷ `count`;
/// the consumer's start is amortised over the blocks).
public func registerPeerCrossThreadBenchmarks(label: String, count: Int, byteCount: Int) {
    for peer in PeerAllocator.available {
        Benchmark("\(label) (peer \(peer.name))", configuration: perIterationConfiguration) {
            benchmark in
            let ring = HandoverRing(capacity: 1024)
            benchmark.startMeasurement()
            handOver(count: count, ring: ring, free: { peer.free($0) }) {
                peer.malloc(byteCount)!
            }
            benchmark.stopMeasurement()
        }
    }
}

/// One measured iteration does the whole batch once: for benchmarks whose figure is read
/// per block as time ÷ batch size.
public var perIterationConfiguration: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput], scalingFactor: .one, maxDuration: .seconds(3),
        maxIterations: 1_000)
}

/// Runs one producer (this thread, `allocate`) and one consumer thread (`free`) over
/// `count` blocks handed over through `ring`.
public func handOver(
    count: Int, ring: HandoverRing, free: @escaping @Sendable (UnsafeMutableRawPointer) -> Void,
    allocate: () -> UnsafeMutableRawPointer
) {
    let consumer: BenchThread
    do {
        consumer = try BenchThread {
            for index in 0..<count { free(ring.take(index)) }
        }
    } catch {
        fatalError("consumer thread: \(error)")
    }
    for index in 0..<count { ring.put(index, allocate()) }
    consumer.join()
}

/// Single-producer single-consumer slots: slot `i % capacity` carries block `i`.
public final class HandoverRing: @unchecked Sendable {
    // @unchecked Sendable: the slots are atomics.
    let slots: UnsafeMutablePointer<Atomic<UInt>>
    let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity { (slots + index).initialize(to: Atomic(0)) }
    }

    deinit { slots.deallocate() }

    public func put(_ index: Int, _ block: UnsafeMutableRawPointer) {
        let slot = slots + index % capacity
        while slot.pointee.load(ordering: .acquiring) != 0 { BenchThread.yield() }
        slot.pointee.store(UInt(bitPattern: block), ordering: .releasing)
    }

    public func take(_ index: Int) -> UnsafeMutableRawPointer {
        let slot = slots + index % capacity
        var value = slot.pointee.load(ordering: .acquiring)
        while value == 0 {
            BenchThread.yield()
            value = slot.pointee.load(ordering: .acquiring)
        }
        slot.pointee.store(0, ordering: .releasing)
        return UnsafeMutableRawPointer(bitPattern: value)!
    }
}

/// Registers "`label`": the bare cost of the two locked instructions that Hyaline's
/// enter+leave needs (a sequentially consistent store, then a CAS), in C.
public func registerLockedPairReference(label: String) {
    Benchmark(label) { benchmark in
        let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 8)
        defer { word.deallocate() }
        word.initialize(repeating: 0, count: 8)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            word.withMemoryRebound(to: CUnsignedLongLong.self, capacity: 1) { bp_store_then_cas($0) }
        }
        benchmark.stopMeasurement()
    }
}
