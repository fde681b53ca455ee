import OffHeap

extension Workloads {
    /// RAG per-vector: builds an index of `ragVectors` unit vectors of `ragDimensions`
    /// Float32 (one allocation each: a 32-byte pattern header, then the floats — the header
    /// shares the first cache line the allocator itself touches, so checking it adds no miss
    /// of its own to the measured allocate/free), answers `ragQueries`
    /// top-k cosine queries (each a perturbed copy of a stored vector, which must rank first:
    /// reported as the `recallAt1` fact), then measures per-vector churn: each operation
    /// verifies and frees one vector and allocates its replacement. Lanes own disjoint
    /// vectors (`index % threads == lane`). The ns/op figure is the allocate/free pair only.
    static func rag<A: VariableSizeAllocator>(
        _ allocator: A, config: WorkloadConfig
    ) throws(OffHeapError) -> WorkloadResult {
        let dims = config.ragDimensions
        let bytes = config.ragVectorBytes
        let index = LaneStash(lanes: 1, perLane: config.ragVectors)
        var setup = WorkerTally()
        var random = WorkloadRandom(seed: config.seed)
        let buildStart = MonotonicClock.nanoseconds
        for v in 0..<config.ragVectors {
            let pattern = SlotPattern(slot: UInt64(v), owner: .max, generation: 0)
            guard let p = allocateVector(allocator, bytes: bytes, tally: &setup) else { break }
            let floats = (p + SlotPattern.byteCount).bindMemory(to: Float.self, capacity: dims)
            var norm: Float = 0
            for d in 0..<dims {
                let x = random.nextUnitFloat()
                floats[d] = x
                norm += x * x
            }
            let scale = norm > 0 ? 1 / Workloads.squareRoot(norm) : 0
            for d in 0..<dims { floats[d] *= scale }
            pattern.write(to: p, byteCount: SlotPattern.byteCount)
            (index.blocks + v).initialize(to: LiveBlock(
                address: UInt(bitPattern: p), size: bytes, pattern: pattern))
            index.counts[0] = v + 1
        }
        let built = index.counts[0]
        let buildNs = MonotonicClock.nanoseconds &- buildStart

        // Queries: read-only over the index, on the calling thread.
        var hits = 0
        let queryStart = MonotonicClock.nanoseconds
        if built > 0 {
            let query = UnsafeMutablePointer<Float>.allocate(capacity: dims)
            defer { query.deallocate() }
            var best = [(score: Float, vector: Int)]()
            best.reserveCapacity(config.ragTopK + 1)
            for q in 0..<config.ragQueries {
                let target = random.next(below: built)
                let source = (UnsafeRawPointer(bitPattern: index.blocks[target].address)! + SlotPattern.byteCount)
                    .assumingMemoryBound(to: Float.self)
                for d in 0..<dims { query[d] = source[d] + random.nextUnitFloat() * 0.01 }
                best.removeAll(keepingCapacity: true)
                for v in 0..<built {
                    let vector = (UnsafeRawPointer(bitPattern: index.blocks[v].address)! + SlotPattern.byteCount)
                        .assumingMemoryBound(to: Float.self)
                    var dot: Float = 0
                    var qq: Float = 0
                    for d in 0..<dims {
                        dot += query[d] * vector[d]
                        qq += query[d] * query[d]
                    }
                    let score = qq > 0 ? dot / Workloads.squareRoot(qq) : 0
                    if best.count < config.ragTopK || score > best[best.count - 1].score {
                        var at = best.count
                        while at > 0 && best[at - 1].score < score { at -= 1 }
                        best.insert((score, v), at: at)
                        if best.count > config.ragTopK { best.removeLast() }
                    }
                }
                if best.first?.vector == target { hits += 1 }
                _ = q
            }
        }
        let queryNs = MonotonicClock.nanoseconds &- queryStart
        // Each stored vector keeps its header through the queries.
        for v in 0..<built {
            let block = index.blocks[v]
            if !block.pattern.matches(block.pointer, byteCount: SlotPattern.byteCount) {
                setup.corruption &+= 1
            }
        }

        // Per-vector churn: the measured operation.
        let control = try RunControl(
            lanes: config.threads, limit: config.limit, observeSignals: config.observeSignals)
        let outcome = try WorkerGroup.run(control: control) { lane in
            var tally = WorkerTally()
            guard built > lane else {
                _ = control.remaining(lane: lane, done: 0)
                return tally
            }
            let mask = UInt64(config.sampleEvery - 1)
            var v = lane
            control.repeatOperations(lane: lane, sampleMask: mask, on: &tally) { tally, done in
                let old = index.blocks[v]
                if !old.pattern.matches(old.pointer, byteCount: SlotPattern.byteCount) {
                    tally.corruption &+= 1
                }
                do throws(OffHeapError) { try allocator.deallocate(old.pointer) } catch { tally.count(error) }
                let pattern = SlotPattern(slot: UInt64(v), owner: UInt64(lane), generation: done)
                guard let p = allocateVector(allocator, bytes: bytes, tally: &tally) else {
                    // Replacement failed: keep a stand-in so the index stays whole.
                    index.blocks[v].address = 0
                    return .stop
                }
                pattern.write(to: p, byteCount: SlotPattern.byteCount)
                index.blocks[v] = LiveBlock(address: UInt(bitPattern: p), size: bytes, pattern: pattern)
                v += config.threads
                if v >= built { v = lane }
                return .completed
            }
            return tally
        }
        var tally = outcome.tally
        tally.merge(setup)
        for v in 0..<built where index.blocks[v].address != 0 {
            let block = index.blocks[v]
            if !block.pattern.matches(block.pointer, byteCount: SlotPattern.byteCount) {
                tally.corruption &+= 1
            }
            do throws(OffHeapError) { try allocator.deallocate(block.pointer) } catch { tally.count(error) }
        }
        var result = result(tally, seconds: outcome.seconds, threads: config.threads)
        result.facts = [
            WorkloadFact(name: "vectors", value: Double(built)),
            WorkloadFact(name: "buildNsPerVector", value: built > 0 ? Double(buildNs) / Double(built) : 0),
            WorkloadFact(
                name: "queryNs",
                value: config.ragQueries > 0 ? Double(queryNs) / Double(config.ragQueries) : 0),
            WorkloadFact(
                name: "recallAt1",
                value: config.ragQueries > 0 ? Double(hits) / Double(config.ragQueries) : 1),
        ]
        return result
    }

    @inline(__always)
    static func allocateVector<A: VariableSizeAllocator>(
        _ allocator: A, bytes: Int, tally: inout WorkerTally
    ) -> UnsafeMutableRawPointer? {
        do throws(OffHeapError) {
            let p = try allocator.allocate(byteCount: bytes, alignment: 16)
            tally.allocated()
            return p
        } catch {
            tally.count(error)
            return nil
        }
    }

    /// √x for x ≥ 0 by Newton's method from an exponent-halving first guess. Not
    /// `Float.squareRoot()`: in the Embedded aarch64 link that becomes a libm `sqrtf` call,
    /// and the cross build links no libm.
    @inline(__always)
    public static func squareRoot(_ x: Float) -> Float {
        guard x > 0, x.isFinite else { return x > 0 ? x : 0 }
        var y = Float(bitPattern: (x.bitPattern >> 1) &+ 0x1FBD_1DF5)
        for _ in 0..<4 { y = 0.5 * (y + x / y) }
        return y
    }
}
