import COffHeapHostShims
import OffHeap

/// A value in a run document's `config` object (Embedded-clean: no `Any`).
@frozen
public enum ConfigValue: Equatable, Sendable {
    case int(Int)
    case string(String)
    case bool(Bool)
    case strings([String])
}

/// The run document `offheap.run/1` (see `reports/SCHEMA-run.md`), built by the engine and
/// written by hand as JSON, so the Embedded `offheap-engine` and the hosted CLI produce the
/// same bytes for the same run.
///
/// ```swift
/// var document = RunDocument(command: "stress", machine: MachineFacts.current())
/// document.config = [("threads", .int(2))]
/// document.results.append(result)
/// let json = document.json()   // {"schema":"offheap.run/1",…,"ok":true}
/// ```
public struct RunDocument: Sendable {
    public static let schema = "offheap.run/1"
    /// `stress`, `bench` or `probe`.
    public var command: String
    public var machine: MachineFacts
    /// Options of the run, in order.
    public var config: [(String, ConfigValue)] = []
    public var results: [WorkloadResult] = []
    /// Allocator whose results are the ratio baseline (`relativeToBaseline`), if present.
    public var baseline: String = "glibc"
    /// Whether the run was stopped early by SIGINT/SIGTERM.
    public var interrupted = false

    public init(command: String, machine: MachineFacts) {
        self.command = command
        self.machine = machine
    }

    public var totalErrors: UInt64 { results.reduce(0) { $0 &+ $1.errors } }
    public var totalCorruption: UInt64 { results.reduce(0) { $0 &+ $1.corruption } }
    public var failedRecoveries: Int { results.reduce(0) { $0 + ($1.recovered == false ? 1 : 0) } }
    /// True when nothing was corrupted, nothing failed and every recovery succeeded.
    public var ok: Bool { totalErrors == 0 && totalCorruption == 0 && failedRecoveries == 0 }

    /// `opsPerSecond` of `result` divided by the baseline allocator's on the same workload
    /// in this run, or nil when the baseline did not run it.
    public func relativeToBaseline(_ result: WorkloadResult) -> Double? {
        for other in results where other.allocator == baseline && other.workload == result.workload {
            let base = other.opsPerSecond
            return base > 0 ? result.opsPerSecond / base : nil
        }
        return nil
    }

    public func json() -> String {
        var j = JSONText()
        j.beginObject()
        j.key("schema"); j.string(RunDocument.schema)
        j.key("command"); j.string(command)
        j.key("arch"); j.string(machine.arch)
        j.key("emulated"); j.bool(machine.emulated)
        j.key("machine"); RunDocument.write(machine, to: &j)
        j.key("config")
        j.beginObject()
        for (name, value) in config {
            j.key(name)
            switch value {
            case .int(let v): j.int(v)
            case .string(let v): j.string(v)
            case .bool(let v): j.bool(v)
            case .strings(let list):
                j.beginArray()
                for item in list { j.string(item) }
                j.endArray()
            }
        }
        j.endObject()
        j.key("results")
        j.beginArray()
        for result in results { write(result, to: &j) }
        j.endArray()
        if command == "stress" {
            j.key("timeline")
            j.beginArray()
            if let first = results.first { RunDocument.write(first.timeline, to: &j) }
            j.endArray()
        }
        j.key("totals")
        j.beginObject()
        j.key("errors"); j.uint(totalErrors)
        j.key("corruption"); j.uint(totalCorruption)
        j.key("failedRecoveries"); j.int(failedRecoveries)
        j.endObject()
        j.key("interrupted"); j.bool(interrupted)
        j.key("ok"); j.bool(ok)
        j.endObject()
        return j.text
    }

    static func write(_ timeline: [TimelinePoint], to j: inout JSONText) {
        for point in timeline {
            j.beginObject()
            j.key("t"); j.double(point.t)
            j.key("opsPerSecond"); j.double(point.opsPerSecond)
            j.endObject()
        }
    }

    static func write(_ m: MachineFacts, to j: inout JSONText) {
        j.beginObject()
        j.key("arch"); j.string(m.arch)
        j.key("cpu"); j.string(m.cpuModel)
        j.key("cores"); j.int(m.cores)
        j.key("kernel"); j.string(m.kernel)
        j.key("probe")
        j.beginObject()
        j.key("virtualAddressBits"); j.int(m.virtualAddressBits)
        j.key("cpuVirtualAddressBits"); j.int(m.cpuVirtualAddressBits)
        j.key("la57"); j.bool(m.la57)
        j.key("la57Flag"); j.bool(m.la57Flag)
        j.key("highAddressesGranted"); j.bool(m.highAddressesGranted)
        j.key("userAddressBits"); j.int(m.userAddressBits)
        j.key("pageSize"); j.int(m.pageSize)
        j.key("hugePageSize"); j.int(m.hugePageSize)
        j.key("transparentHugePages"); j.string(m.transparentHugePages)
        j.key("hugePagesTotal"); j.int(m.hugePagesTotal)
        j.endObject()
        j.endObject()
    }

    func write(_ r: WorkloadResult, to j: inout JSONText) {
        j.beginObject()
        j.key("workload"); j.string(r.workload)
        j.key("allocator"); j.string(r.allocator)
        j.key("threads"); j.int(r.threads)
        j.key("operations"); j.uint(r.operations)
        j.key("seconds"); j.double(r.seconds)
        j.key("opsPerSecond"); j.double(r.opsPerSecond)
        j.key("nsPerOp"); j.double(r.nsPerOp)
        j.key("p50Ns"); j.uint(r.p50Ns)
        j.key("p99Ns"); j.uint(r.p99Ns)
        j.key("p999Ns"); j.uint(r.p999Ns)
        j.key("maxNs"); j.uint(r.maxNs)
        j.key("latencySamples"); j.uint(r.latency.totalCount)
        j.key("errors"); j.uint(r.errors)
        j.key("corruption"); j.uint(r.corruption)
        j.key("exhausted"); j.uint(r.exhausted)
        j.key("recovered")
        if let recovered = r.recovered { j.bool(recovered) } else { j.null() }
        j.key("recoveredSlots")
        if let slots = r.recoveredSlots { j.int(slots) } else { j.null() }
        j.key("relativeToBaseline")
        if let ratio = relativeToBaseline(r) { j.double(ratio) } else { j.null() }
        j.key("facts")
        j.beginObject()
        for fact in r.facts {
            j.key(fact.name); j.double(fact.value)
        }
        j.endObject()
        if !r.roles.isEmpty {
            j.key("roles")
            j.beginArray()
            for row in r.roles {
                j.beginObject()
                j.key("role"); j.string(row.role)
                j.key("lanes"); j.int(row.lanes)
                j.key("operations"); j.uint(row.operations)
                j.key("validations"); j.uint(row.validations)
                j.key("crossThreadFrees"); j.uint(row.crossThreadFrees)
                j.key("corruption"); j.uint(row.corruption)
                j.key("errors"); j.uint(row.errors)
                j.key("exhausted"); j.uint(row.exhausted)
                j.endObject()
            }
            j.endArray()
        }
        if !r.timeline.isEmpty {
            j.key("timeline")
            j.beginArray()
            RunDocument.write(r.timeline, to: &j)
            j.endArray()
        }
        j.endObject()
    }

    /// Writes `text` to `path` (created or truncated); `-` writes to standard output.
    public static func write(_ text: String, toPath path: String) throws(OffHeapError) {
        var cPath = [CChar]()
        for byte in path.utf8 { cPath.append(CChar(bitPattern: byte)) }
        cPath.append(0)
        let bytes = Array(text.utf8) + [UInt8(ascii: "\n")]
        let fd: Int32 = path == "-" ? 1 : offheap_create_file(cPath)
        guard fd >= 0 else { throw .invalidConfiguration(reason: "cannot create the JSON file") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                offheap_write(fd, raw.baseAddress! + written, bytes.count - written)
            }
            if n <= 0 {
                if fd != 1 { _ = offheap_close(fd) }
                throw .invalidConfiguration(reason: "cannot write the JSON file")
            }
            written += n
        }
        if fd != 1 { _ = offheap_close(fd) }
    }
}
