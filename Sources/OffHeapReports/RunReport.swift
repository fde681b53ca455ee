import Foundation
import OffHeapWorkloads

/// The hosted, Codable form of the run document `offheap.run/1` (schema in
/// `reports/SCHEMA-run.md`). The CLI builds it from the engine's ``RunDocument`` (with the
/// engine histogram's percentiles), merges the peers' documents into it, and encodes it; tests
/// and the matrix decode it.
///
/// ```swift
/// let report = RunReport(document)
/// let data = try report.encoded()
/// let back = try RunReport.decode(data)
/// ```
public struct RunReport: Codable, Equatable, Sendable {
    public var schema: String
    public var command: String
    public var arch: String
    public var emulated: Bool
    public var machine: Machine
    public var config: [String: ConfigField]
    public var results: [Result]
    public var timeline: [TimelineSample]?
    public var totals: Totals
    public var interrupted: Bool?
    public var ok: Bool

    public struct Machine: Codable, Equatable, Sendable {
        public var arch: String
        public var cpu: String
        public var cores: Int
        public var kernel: String
        public var probe: Probe
    }

    public struct Probe: Codable, Equatable, Sendable {
        public var virtualAddressBits: Int
        public var cpuVirtualAddressBits: Int?
        public var la57: Bool
        public var la57Flag: Bool?
        public var highAddressesGranted: Bool?
        public var userAddressBits: Int?
        public var pageSize: Int
        public var hugePageSize: Int
        public var transparentHugePages: String
        public var hugePagesTotal: Int
    }

    public struct Result: Codable, Equatable, Sendable {
        public var workload: String
        public var allocator: String
        public var threads: Int
        public var operations: UInt64
        public var seconds: Double
        public var opsPerSecond: Double
        public var nsPerOp: Double
        public var p50Ns: UInt64
        public var p99Ns: UInt64
        public var p999Ns: UInt64?
        public var maxNs: UInt64?
        public var latencySamples: UInt64?
        public var errors: UInt64
        public var corruption: UInt64
        public var exhausted: UInt64?
        public var recovered: Bool?
        public var recoveredSlots: Int?
        public var relativeToBaseline: Double?
        public var facts: [String: Double]?
        /// Per-role rows of a stress result (absent for other workloads).
        public var roles: [Role]?
        public var timeline: [TimelineSample]?

        // `recovered` and `relativeToBaseline` are written as explicit nulls (the contract
        // says `bool|null`), so encode by hand.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(workload, forKey: .workload)
            try c.encode(allocator, forKey: .allocator)
            try c.encode(threads, forKey: .threads)
            try c.encode(operations, forKey: .operations)
            try c.encode(seconds, forKey: .seconds)
            try c.encode(opsPerSecond, forKey: .opsPerSecond)
            try c.encode(nsPerOp, forKey: .nsPerOp)
            try c.encode(p50Ns, forKey: .p50Ns)
            try c.encode(p99Ns, forKey: .p99Ns)
            try c.encodeIfPresent(p999Ns, forKey: .p999Ns)
            try c.encodeIfPresent(maxNs, forKey: .maxNs)
            try c.encodeIfPresent(latencySamples, forKey: .latencySamples)
            try c.encode(errors, forKey: .errors)
            try c.encode(corruption, forKey: .corruption)
            try c.encodeIfPresent(exhausted, forKey: .exhausted)
            try c.encode(recovered, forKey: .recovered)
            try c.encode(recoveredSlots, forKey: .recoveredSlots)
            try c.encode(relativeToBaseline, forKey: .relativeToBaseline)
            try c.encodeIfPresent(facts, forKey: .facts)
            try c.encodeIfPresent(roles, forKey: .roles)
            try c.encodeIfPresent(timeline, forKey: .timeline)
        }
    }

    /// One stress role's figures within a result (``StressRoleFigures``).
    public struct Role: Codable, Equatable, Sendable {
        public var role: String
        public var lanes: Int
        public var operations: UInt64
        public var validations: UInt64
        public var crossThreadFrees: UInt64
        public var corruption: UInt64
        public var errors: UInt64
        public var exhausted: UInt64
    }

    public struct TimelineSample: Codable, Equatable, Sendable {
        public var t: Double
        public var opsPerSecond: Double
    }

    public struct Totals: Codable, Equatable, Sendable {
        public var errors: UInt64
        public var corruption: UInt64
        public var failedRecoveries: Int

        public init(errors: UInt64, corruption: UInt64, failedRecoveries: Int) {
            self.errors = errors
            self.corruption = corruption
            self.failedRecoveries = failedRecoveries
        }
    }

    /// A `config` value: integer, string, boolean or list of strings.
    public enum ConfigField: Codable, Equatable, Sendable {
        case int(Int)
        case string(String)
        case bool(Bool)
        case strings([String])

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode(Int.self) { self = .int(v) }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else { self = .strings(try c.decode([String].self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .int(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            case .bool(let v): try c.encode(v)
            case .strings(let v): try c.encode(v)
            }
        }
    }
}

extension RunReport {
    /// Builds the report from an engine document. Latency percentiles are the engine
    /// histogram's own (``LatencyHistogram/percentile(_:)``: bucket midpoints, ≤ 6.25 %
    /// resolution), the same figures the Embedded engine writes; re-bucketing them into a
    /// finer histogram would only add digits that were never measured.
    public init(_ document: RunDocument) {
        schema = RunDocument.schema
        command = document.command
        arch = document.machine.arch
        emulated = document.machine.emulated
        let m = document.machine
        machine = Machine(
            arch: m.arch, cpu: m.cpuModel, cores: m.cores, kernel: m.kernel,
            probe: Probe(
                virtualAddressBits: m.virtualAddressBits,
                cpuVirtualAddressBits: m.cpuVirtualAddressBits, la57: m.la57,
                la57Flag: m.la57Flag, highAddressesGranted: m.highAddressesGranted,
                userAddressBits: m.userAddressBits,
                pageSize: m.pageSize, hugePageSize: m.hugePageSize,
                transparentHugePages: m.transparentHugePages, hugePagesTotal: m.hugePagesTotal))
        var config: [String: ConfigField] = [:]
        for (name, value) in document.config {
            switch value {
            case .int(let v): config[name] = .int(v)
            case .string(let v): config[name] = .string(v)
            case .bool(let v): config[name] = .bool(v)
            case .strings(let v): config[name] = .strings(v)
            }
        }
        self.config = config
        results = document.results.map { r in
            let samples = r.latency.totalCount
            var facts: [String: Double] = [:]
            for fact in r.facts { facts[fact.name] = fact.value }
            return Result(
                workload: r.workload, allocator: r.allocator, threads: r.threads,
                operations: r.operations, seconds: r.seconds, opsPerSecond: r.opsPerSecond,
                nsPerOp: r.nsPerOp,
                p50Ns: r.latency.percentile(50),
                p99Ns: r.latency.percentile(99),
                p999Ns: r.latency.percentile(99.9),
                maxNs: r.latency.maximum, latencySamples: samples,
                errors: r.errors, corruption: r.corruption, exhausted: r.exhausted,
                recovered: r.recovered, recoveredSlots: r.recoveredSlots,
                relativeToBaseline: nil, facts: facts,
                roles: r.roles.isEmpty ? nil : r.roles.map {
                    Role(role: $0.role, lanes: $0.lanes, operations: $0.operations,
                         validations: $0.validations, crossThreadFrees: $0.crossThreadFrees,
                         corruption: $0.corruption, errors: $0.errors, exhausted: $0.exhausted)
                },
                timeline: r.timeline.isEmpty ? nil : r.timeline.map {
                    TimelineSample(t: $0.t, opsPerSecond: $0.opsPerSecond)
                })
        }
        timeline = document.command == "stress" ? (results.first?.timeline ?? []) : nil
        interrupted = document.interrupted
        totals = Totals(errors: 0, corruption: 0, failedRecoveries: 0)
        ok = true
        recompute(baseline: document.baseline)
    }

    /// Recomputes ratios to `baseline` (same workload and thread count, same run), totals and `ok`.
    public mutating func recompute(baseline: String = "glibc") {
        for index in results.indices {
            let r = results[index]
            let base = results.first {
                $0.allocator == baseline && $0.workload == r.workload && $0.threads == r.threads
            }
            if let base, base.opsPerSecond > 0 {
                results[index].relativeToBaseline = r.opsPerSecond / base.opsPerSecond
            } else {
                results[index].relativeToBaseline = nil
            }
        }
        totals = Totals(
            errors: results.reduce(0) { $0 + $1.errors },
            corruption: results.reduce(0) { $0 + $1.corruption },
            failedRecoveries: results.filter { $0.recovered == false }.count)
        ok = totals.errors == 0 && totals.corruption == 0 && totals.failedRecoveries == 0
    }

    /// Appends a peer run's results (already named after the peer) and recomputes.
    public mutating func merge(peer: RunReport, baseline: String = "glibc") {
        results += peer.results
        if peer.interrupted == true { interrupted = true }
        recompute(baseline: baseline)
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> RunReport {
        try JSONDecoder().decode(RunReport.self, from: data)
    }
}
