import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads
import Testing

@Suite("Workload reports")
struct WorkloadReportTests {
    static func machine() -> MachineFacts {
        MachineFacts(
            arch: "aarch64", emulated: true, cpuModel: "Test \"CPU\"\t1", cores: 2,
            kernel: "6.1.0", pageSize: 4096, hugePageSize: 2 << 20, virtualAddressBits: 48,
            cpuVirtualAddressBits: 57, la57: false, transparentHugePages: "madvise",
            hugePagesTotal: 0)
    }

    static func document() -> RunDocument {
        var document = RunDocument(command: "stress", machine: machine())
        document.config = [("threads", .int(2)), ("roles", .strings(["bounce", "retire"])),
                           ("label", .string("x")), ("flag", .bool(true))]
        var a = WorkloadResult(workload: "stress", allocator: "glibc", threads: 2)
        a.operations = 1_000
        a.seconds = 0.5
        for v in [100, 200, 300, 400] { a.latency.record(UInt64(v)) }
        a.summariseLatency()
        a.recovered = true
        a.recoveredSlots = 64
        a.timeline = [TimelinePoint(t: 0.25, opsPerSecond: 1_500), TimelinePoint(t: 0.5, opsPerSecond: 2_500)]
        var b = WorkloadResult(workload: "stress", allocator: "sharded", threads: 2)
        b.operations = 4_000
        b.seconds = 0.5
        b.facts = [WorkloadFact(name: "recallAt1", value: 1)]
        document.results = [a, b]
        return document
    }

    @Test func handWrittenJSONDecodesWithTheContractFields() throws {
        let document = Self.document()
        let text = document.json()
        let report = try RunReport.decode(Data(text.utf8))
        #expect(report.schema == "offheap.run/1")
        #expect(report.command == "stress")
        #expect(report.arch == "aarch64")
        #expect(report.emulated == true)
        #expect(report.machine.cpu == "Test \"CPU\"\t1")
        #expect(report.machine.probe.cpuVirtualAddressBits == 57)
        #expect(report.config["roles"] == .strings(["bounce", "retire"]))
        #expect(report.config["threads"] == .int(2))
        #expect(report.config["flag"] == .bool(true))
        #expect(report.results.count == 2)
        #expect(report.results[0].opsPerSecond == 2_000)
        #expect(report.results[0].nsPerOp == 500_000)
        #expect(report.results[0].recovered == true)
        #expect(report.results[1].recovered == nil)
        #expect(report.results[1].relativeToBaseline == 4.0)
        #expect(report.results[1].facts?["recallAt1"] == 1)
        #expect(report.timeline?.count == 2)
        #expect(report.timeline?.last?.opsPerSecond == 2_500)
        #expect(report.ok == true)
        #expect(report.totals == RunReport.Totals(errors: 0, corruption: 0, failedRecoveries: 0))
        // The contract says recovered is bool|null: null must be written, not omitted.
        #expect(text.contains("\"recovered\":null"))
        // Every top-level key of the contract is present.
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        for key in ["schema", "command", "arch", "emulated", "machine", "config", "results", "totals", "ok", "timeline"] {
            #expect(object?[key] != nil, "missing \(key)")
        }
    }

    @Test func codableReportRoundTripsAndMatchesTheEngine() throws {
        let document = Self.document()
        let report = RunReport(document)
        let back = try RunReport.decode(try report.encoded())
        #expect(back == report)
        let hand = try RunReport.decode(Data(document.json().utf8))
        #expect(hand.results.map(\.operations) == report.results.map(\.operations))
        #expect(hand.results.map(\.relativeToBaseline) == report.results.map(\.relativeToBaseline))
        #expect(hand.totals == report.totals)
        #expect(hand.ok == report.ok)
        // The hosted report's percentiles are the engine's own, exactly.
        #expect(hand.results.map(\.p50Ns) == report.results.map(\.p50Ns))
        #expect(hand.results.map(\.p99Ns) == report.results.map(\.p99Ns))
        #expect(hand.results.map(\.p999Ns) == report.results.map(\.p999Ns))
        #expect(report.results[0].p50Ns > 0)
    }

    @Test func corruptionAndFailedRecoveryMakeTheRunFail() throws {
        var document = Self.document()
        document.results[1].corruption = 3
        document.results[0].recovered = false
        #expect(document.ok == false)
        let report = try RunReport.decode(Data(document.json().utf8))
        #expect(report.ok == false)
        #expect(report.totals.corruption == 3)
        #expect(report.totals.failedRecoveries == 1)
        var merged = RunReport(Self.document())
        #expect(merged.ok)
        var peer = RunReport(document)
        peer.results = peer.results.map { var r = $0; r.allocator = "jemalloc"; return r }
        merged.merge(peer: peer)
        #expect(merged.results.count == 4)
        #expect(merged.ok == false)
        #expect(merged.totals.corruption == 3)
    }

    @Test func jsonNumbersAndStringsAreWellFormed() throws {
        #expect(JSONText.format(1.5) == "1.5")
        #expect(JSONText.format(0.000125) == "0.000125")
        #expect(JSONText.format(-2) == "-2")
        #expect(JSONText.format(3_000_000.25) == "3000000.25")
        #expect(JSONText.format(.nan) == "null")
        #expect(JSONText.format(.infinity) == "null")
        var json = JSONText()
        json.beginArray()
        json.string("a\"b\\c\n\u{01}")
        json.double(0.1)
        json.null()
        json.endArray()
        let decoded = try JSONSerialization.jsonObject(with: Data(json.text.utf8)) as? [Any]
        #expect(decoded?.first as? String == "a\"b\\c\n\u{01}")
        #expect(decoded?[1] as? Double == 0.1)
    }

    @Test func peersParse() throws {
        #expect(try Peer.parseList("all") == Peer.allCases)
        #expect(try Peer.parseList("none") == [])
        #expect(try Peer.parseList("jemalloc,glibc") == [.jemalloc, .glibc])
        #expect(throws: PeerError.self) { try Peer.parseList("hoard") }
        #expect(Peer.glibc.library == nil)
        #expect(Peer.tcmalloc.soname == "libtcmalloc_minimal.so.4")
    }
}
