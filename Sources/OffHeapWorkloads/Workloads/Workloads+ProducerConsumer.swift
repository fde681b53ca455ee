import COffHeapShims
import OffHeap
import Synchronization

extension Workloads {
    /// Producer-consumer (xmalloc-style cross-thread free): threads pair up; the producer of
    /// a pair allocates blocks of random size, writes the pattern and passes them through a
    /// ring; the consumer checks each against the exact pattern it expects (it replays the
    /// producer's size sequence from the same seed) and frees it. One operation = one block
    /// passed. The thread count is rounded down to an even number (at least 2).
    static func producerConsumer<A: VariableSizeAllocator>(
        _ allocator: A, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        let pairs = max(config.threads / 2, 1)
        let lanes = pairs * 2
        let rings = HandoffRings(pairs: pairs, cells: config.ringSize)
        let control = try RunControl(
            lanes: lanes, limit: config.limit, observeSignals: config.observeSignals)
        control.distributeQuota(over: Array(stride(from: 0, to: lanes, by: 2)))
        let outcome = try WorkerGroup.run(control: control) { lane in
            var tally = WorkerTally()
            let pair = lane / 2
            let producerLane = UInt64(pair * 2)
            var random = WorkloadRandom(seed: config.seed &+ UInt64(pair) &* 104_729)
            let mask = UInt64(config.sampleEvery - 1)
            var sequence: UInt64 = 0
            var cell = 0
            if lane & 1 == 0 {
                var budget = control.remaining(lane: lane, done: 0)
                while budget > 0 && !tally.gaveUp {
                    let chunk = budget < 64 ? budget : 64
                    var produced: UInt64 = 0
                    while produced < chunk && !tally.gaveUp {
                        if !rings.isEmpty(pair: pair, cell: cell) {
                            if control.isStopping { break }
                            offheap_yield()
                            continue
                        }
                        let bytes = size(&random, config)
                        let timed = sequence & mask == 0
                        let start = timed ? MonotonicClock.nanoseconds : 0
                        let pattern = SlotPattern(slot: sequence, owner: producerLane, generation: sequence)
                        guard let block = tally.allocateBlock(allocator, size: bytes, pattern: pattern) else {
                            if control.isStopping { break }
                            offheap_yield()
                            // Keep the consumer's replay in step: this sequence number is skipped.
                            rings.put(pair: pair, cell: cell, address: 1)
                            cell = cell + 1 == rings.cells ? 0 : cell + 1
                            sequence &+= 1
                            continue
                        }
                        rings.put(pair: pair, cell: cell, address: block.address)
                        if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
                        cell = cell + 1 == rings.cells ? 0 : cell + 1
                        sequence &+= 1
                        produced &+= 1
                        tally.operations &+= 1
                    }
                    budget = control.remaining(lane: lane, done: tally.operations)
                }
                rings.producerFinished(pair: pair)
            } else {
                while true {
                    guard let address = rings.take(pair: pair, cell: cell) else {
                        if rings.isProducerFinished(pair: pair) {
                            if rings.isEmpty(pair: pair, cell: cell) { break }
                            continue
                        }
                        offheap_yield()
                        continue
                    }
                    let bytes = size(&random, config)
                    if address != 1 {
                        let block = LiveBlock(
                            address: address, size: bytes,
                            pattern: SlotPattern(slot: sequence, owner: producerLane, generation: sequence))
                        tally.verifyAndFree(allocator, block)
                    }
                    cell = cell + 1 == rings.cells ? 0 : cell + 1
                    sequence &+= 1
                }
                _ = control.remaining(lane: lane, done: 0)
            }
            return tally
        }
        return result(outcome.tally, seconds: outcome.seconds, threads: lanes)
    }
}

/// Single-producer single-consumer rings of block addresses, one per pair.
///
/// Invariant: cell `c` of pair `p` is written non-zero only by p's producer, and only when
/// it holds 0 (a release store publishes the block's pattern); it is reset to 0 only by p's
/// consumer after an acquire load saw the address (the consumer then owns the block). The
/// producer's acquire load of 0 orders the consumer's last use of the cell before reuse.
/// `1` marks a skipped sequence number (failed allocation). Finished flags: release store
/// after the producer's last put, acquire load by the consumer before its final check.
final class HandoffRings: @unchecked Sendable {
    // @unchecked Sendable: all shared state is the atomic cells and flags described above.
    let pairs: Int
    let cells: Int
    let stride: Int
    let words: UnsafeMutablePointer<Atomic<UInt>>

    init(pairs: Int, cells: Int) {
        self.pairs = pairs
        self.cells = cells
        stride = (cells + 1 + 15) / 16 * 16   // cells + finished flag, padded to 128 B
        words = .allocate(capacity: pairs * stride)
        for index in 0..<(pairs * stride) { (words + index).initialize(to: Atomic(0)) }
    }

    deinit {
        words.deinitialize(count: pairs * stride)
        words.deallocate()
    }

    @inline(__always)
    func isEmpty(pair: Int, cell: Int) -> Bool {
        words[pair * stride + cell].load(ordering: .acquiring) == 0
    }

    @inline(__always)
    func put(pair: Int, cell: Int, address: UInt) {
        words[pair * stride + cell].store(address, ordering: .releasing)
    }

    @inline(__always)
    func take(pair: Int, cell: Int) -> UInt? {
        let value = words[pair * stride + cell].load(ordering: .acquiring)
        if value == 0 { return nil }
        words[pair * stride + cell].store(0, ordering: .releasing)
        return value
    }

    func producerFinished(pair: Int) {
        words[pair * stride + cells].store(1, ordering: .releasing)
    }

    func isProducerFinished(pair: Int) -> Bool {
        words[pair * stride + cells].load(ordering: .acquiring) != 0
    }
}
