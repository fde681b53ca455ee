/// One row of a run document: what one workload did against one allocator.
///
/// `operations` counts the workload's unit of work (documented per workload in
/// `reports/SCHEMA-run.md`; for the stress hammer one allocate+free cycle of one slot).
/// `corruption` counts slots whose pattern was wrong when another (or the same) thread
/// checked it; `errors` counts typed errors other than `.exhausted`.
public struct WorkloadResult: Equatable, Sendable {
    public var workload: String
    public var allocator: String
    public var threads: Int
    public var operations: UInt64
    public var seconds: Double
    public var p50Ns: UInt64
    public var p99Ns: UInt64
    public var p999Ns: UInt64
    public var maxNs: UInt64
    public var errors: UInt64
    public var corruption: UInt64
    /// Allocation attempts refused with `.exhausted` during the run (not errors).
    public var exhausted: UInt64
    /// Outcome of the exhaustion-and-recovery phase; `nil` when the workload has none.
    public var recovered: Bool?
    /// Slots the recovery phase could allocate (first pass), when it ran.
    public var recoveredSlots: Int?
    /// The latency samples behind the percentiles (bucket counts).
    public var latency: LatencyHistogram
    /// Throughput per interval (stress only).
    public var timeline: [TimelinePoint]
    /// Free-form workload facts, e.g. RAG recall (`"recall"`, value) — numbers only.
    public var facts: [WorkloadFact]
    /// Per-role figures of a stress run, in the order roles were first assigned (empty for
    /// other workloads).
    public var roles: [StressRoleFigures]

    public init(workload: String, allocator: String, threads: Int) {
        self.workload = workload
        self.allocator = allocator
        self.threads = threads
        operations = 0
        seconds = 0
        p50Ns = 0
        p99Ns = 0
        p999Ns = 0
        maxNs = 0
        errors = 0
        corruption = 0
        exhausted = 0
        recovered = nil
        recoveredSlots = nil
        latency = LatencyHistogram()
        timeline = []
        facts = []
        roles = []
    }

    /// The fact named `name`, if reported.
    public func fact(_ name: String) -> Double? {
        for fact in facts where fact.name == name { return fact.value }
        return nil
    }

    public var opsPerSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }
    public var nsPerOp: Double { operations > 0 ? seconds * 1e9 / Double(operations) : 0 }

    /// Fills the percentile fields from ``latency``.
    public mutating func summariseLatency() {
        p50Ns = latency.percentile(50)
        p99Ns = latency.percentile(99)
        p999Ns = latency.percentile(99.9)
        maxNs = latency.maximum
    }

    public static func == (a: WorkloadResult, b: WorkloadResult) -> Bool {
        a.workload == b.workload && a.allocator == b.allocator && a.threads == b.threads
            && a.operations == b.operations && a.seconds == b.seconds && a.errors == b.errors
            && a.corruption == b.corruption && a.recovered == b.recovered
    }
}

/// Throughput over one sampling interval of a stress run.
@frozen
public struct TimelinePoint: Equatable, Sendable {
    /// Seconds since the run started (end of the interval).
    public var t: Double
    public var opsPerSecond: Double
    public init(t: Double, opsPerSecond: Double) {
        self.t = t
        self.opsPerSecond = opsPerSecond
    }
}

/// A named number a workload reports besides throughput (e.g. RAG recall, query ns).
@frozen
public struct WorkloadFact: Equatable, Sendable {
    public var name: String
    public var value: Double
    public init(name: String, value: Double) {
        self.name = name
        self.value = value
    }
}
