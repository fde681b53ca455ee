import OffHeap

/// The workloads every allocator (ours and the peers) runs.
@frozen
public enum WorkloadKind: Equatable, Sendable, CaseIterable {
    /// RAG per-vector: build an index of 1536-dim Float32 vectors, top-k cosine queries,
    /// then per-vector allocate/free churn (the measured operation).
    case rag
    /// Larson server churn: random free/allocate in per-thread stashes that are handed
    /// over to new threads each generation.
    case larson
    /// Random sizes 16–1024 B over a per-thread working set of 400 blocks.
    case randomMixed
    /// xmalloc-style: producers allocate, consumers on other threads verify and free.
    case producerConsumer
    /// Threads exit holding memory; the next generation frees it.
    case threadChurn
    /// Hoard's cache-scratch: small objects written hard by each thread (false sharing).
    case cacheScratch

    public var name: String {
        switch self {
        case .rag: return "rag"
        case .larson: return "larson"
        case .randomMixed: return "random-mixed"
        case .producerConsumer: return "producer-consumer"
        case .threadChurn: return "thread-churn"
        case .cacheScratch: return "cache-scratch"
        }
    }

    public init?(name: String) {
        for kind in WorkloadKind.allCases where kind.name == name {
            self = kind
            return
        }
        return nil
    }

    /// Whether `--min-size`/`--max-size` (and a `--sizes` sweep) set its request sizes.
    public var takesRequestSizes: Bool {
        switch self {
        case .larson, .randomMixed, .producerConsumer, .threadChurn: return true
        case .rag, .cacheScratch: return false
        }
    }

    /// Parses `all` or a comma-separated list of workload names.
    public static func parseList(_ text: String) throws(OffHeapError) -> [WorkloadKind] {
        try RunPlan.choices(text, .workload)
    }
}

/// Options of the variable-size workloads; every size and count is an option.
public struct WorkloadConfig: Sendable {
    public var threads: Int = 2
    public var limit: RunLimit = .duration(nanoseconds: 1_000_000_000)
    public var seed: UInt64 = 1
    /// Time one operation in every `sampleEvery` (power of two).
    public var sampleEvery: Int = 64
    public var observeSignals: Bool = false
    /// Request sizes of random-mixed, larson, producer-consumer and thread-churn.
    public var minSize: Int = 16
    public var maxSize: Int = 1024
    /// Blocks each random-mixed thread keeps live.
    public var workingSet: Int = 400
    /// RAG: dimensions, vectors in the index, queries, k.
    public var ragDimensions: Int = 1536
    public var ragVectors: Int = 2048
    public var ragQueries: Int = 16
    public var ragTopK: Int = 10
    /// Larson: blocks per thread stash, operations per thread per generation.
    public var larsonBlocks: Int = 1000
    public var larsonRounds: Int = 10_000
    /// Producer-consumer ring cells per pair.
    public var ringSize: Int = 256
    /// Thread churn: blocks each thread allocates per generation (it keeps half).
    public var churnBlocks: Int = 256
    /// Cache-scratch: object size and writes per object.
    public var scratchSize: Int = 8
    public var scratchWrites: Int = 100

    public init() {}

    /// Bytes of one RAG vector allocation: a 32-byte pattern header plus the floats.
    public var ragVectorBytes: Int { ragDimensions * 4 + SlotPattern.byteCount }

    /// Largest request `kind` makes (the slot size a fixed-size allocator needs).
    public func maxRequest(_ kind: WorkloadKind) -> Int {
        switch kind {
        case .rag: return ragVectorBytes
        case .cacheScratch: return max(scratchSize, 8)
        default: return maxSize
        }
    }

    /// Most blocks `kind` keeps live at once (the capacity a bounded allocator needs).
    public func liveBound(_ kind: WorkloadKind) -> Int {
        switch kind {
        case .rag: return ragVectors + threads * 2
        case .larson: return larsonBlocks * threads + threads
        case .randomMixed: return workingSet * threads + threads
        case .producerConsumer: return (ringSize + 2) * max(threads / 2, 1) + threads
        case .threadChurn: return churnBlocks * threads * 2
        case .cacheScratch: return threads * 2
        }
    }

    public func validate() throws(OffHeapError) {
        guard threads >= 1, threads <= 4096 else {
            throw .invalidConfiguration(reason: "threads must be in 1...4096")
        }
        guard minSize >= 8, maxSize >= minSize, maxSize <= 1 << 30 else {
            throw .invalidConfiguration(reason: "sizes must satisfy 8 <= min <= max <= 1 GiB")
        }
        guard workingSet >= 1, larsonBlocks >= 1, larsonRounds >= 1, ringSize >= 1,
            churnBlocks >= 2, scratchWrites >= 1
        else { throw .invalidConfiguration(reason: "counts must be positive") }
        guard scratchSize >= 8, scratchSize <= 4096 else {
            throw .invalidConfiguration(reason: "scratch size must be in 8...4096")
        }
        guard ragDimensions >= 1, ragDimensions <= 1 << 16, ragVectors >= 1, ragQueries >= 0,
            ragTopK >= 1, ragTopK <= ragVectors
        else { throw .invalidConfiguration(reason: "rag sizes out of range (top-k must not exceed vectors)") }
        guard sampleEvery >= 1, sampleEvery & (sampleEvery - 1) == 0 else {
            throw .invalidConfiguration(reason: "sample interval must be a power of two")
        }
    }
}

/// A live block of a variable-size workload and the pattern it must still hold.
@frozen
public struct LiveBlock: Sendable {
    public var address: UInt
    public var size: Int
    public var pattern: SlotPattern
    @inlinable
    public init(address: UInt, size: Int, pattern: SlotPattern) {
        self.address = address
        self.size = size
        self.pattern = pattern
    }
    @inlinable
    public var pointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: address)! }
}

extension WorkerTally {
    /// Allocates `size` bytes and writes `pattern`; nil (error counted) on failure.
    @inlinable
    mutating func allocateBlock<A: VariableSizeAllocator>(
        _ allocator: A, size: Int, pattern: SlotPattern, alignment: Int = 8
    ) -> LiveBlock? {
        do throws(OffHeapError) {
            let p = try allocator.allocate(byteCount: size, alignment: alignment)
            allocated()
            pattern.write(to: p, byteCount: size)
            return LiveBlock(address: UInt(bitPattern: p), size: size, pattern: pattern)
        } catch {
            count(error)
            return nil
        }
    }

    /// Verifies the block's pattern, then frees it. Always inlined, like
    /// `SlotPattern.write/matches`, so every allocator pays the same harness cost (left to
    /// the optimiser it stays a call for allocators with larger inlined fast paths).
    @inlinable @inline(__always)
    mutating func verifyAndFree<A: VariableSizeAllocator>(_ allocator: A, _ block: LiveBlock) {
        if !block.pattern.matches(block.pointer, byteCount: block.size) { corruption &+= 1 }
        do throws(OffHeapError) { try allocator.deallocate(block.pointer) } catch { count(error) }
    }
}
