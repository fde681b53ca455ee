import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads
import Testing

/// Every role against every allocator the matrix stresses (freelist, sharded, heap), with
/// the mixed Hyaline/exchange mailboxes that make readers free other threads' slots, and a
/// planted defect that each role's checks must count.
@Suite("Stress hammer: every role on every allocator")
struct WorkloadStressRolesTests {
    static let allocators: [AllocatorChoice] = [.freelist, .sharded, .heap]

    static func plan(_ choice: AllocatorChoice, threads: Int = 6) -> RunPlan {
        var plan = RunPlan(command: .stress)
        plan.allocators = [choice]
        plan.capacity = 2048
        var config = WorkloadStressTests.config(
            threads: threads, roles: StressRole.all, operations: 20_000, capacity: 2048)
        config.hyaline = true
        config.hyalineMixed = true
        plan.stress = config
        return plan
    }

    static func row(_ result: WorkloadResult, _ role: StressRole) -> StressRoleFigures? {
        result.roles.first { $0.role == role.name }
    }

    @Test(arguments: allocators)
    func concurrentAllRolesRunWithCrossThreadFreesAndThePIController(_ choice: AllocatorChoice) throws {
        var plan = Self.plan(choice)
        plan.stress.hyalineController = true
        // An operation count, not a duration: every counting role gets its share however
        // loaded the machine is (a 100 ms run under ASan on a loaded box left the heap's
        // publisher with no operation at all). The controller ticking is checked by
        // `controllerTicksDuringATimedRun`: an optimised build finishes 60k operations
        // before the controller's first 1 ms period.
        plan.stress.limit = .operations(60_000)
        let document = try plan.run()
        let result = try #require(document.results.first)
        #expect(result.corruption == 0 && result.errors == 0)
        #expect(result.recovered == true)
        #expect(document.ok)
        // Every role ran: one row each, in round-robin order, with its lanes.
        #expect(result.roles.map(\.role) == ["bounce", "publisher", "reader", "burst", "retire"])
        #expect(result.roles.map(\.lanes) == [2, 1, 1, 1, 1])
        for role in [StressRole.bounce, .publisher, .burst, .retire] {
            #expect((Self.row(result, role)?.operations ?? 0) > 0, "\(role.name)")
        }
        let reader = try #require(Self.row(result, .reader))
        #expect(reader.operations == 0, "readers count no operations")
        #expect(reader.validations > 0, "readers validated Hyaline cells in place")
        // The final pass always finds the publisher's last slots in the exchange cells.
        #expect(reader.crossThreadFrees > 0, "readers freed slots the publisher allocated")
        #expect((result.fact("crossThreadFrees") ?? 0) >= Double(reader.crossThreadFrees))
        #expect(result.fact("hyalineController") == 1)
        #expect((result.fact("hyalineRetired") ?? 0) > 0)
        #expect(result.fact("hyalineReclaimed") == result.fact("hyalineRetired"))
        #expect(result.fact("hyalineUnreclaimed") == 0)
        #expect((result.fact("hyalinePeakUnreclaimed") ?? -1) >= 0)
        #expect(result.fact("hyalineReclaimCorruption") == 0)
    }

    /// The PI threshold controller runs beside the workers: over a timed run (100 ms, a
    /// hundred of its 1 ms periods) it ticks.
    @Test func controllerTicksDuringATimedRun() throws {
        var plan = Self.plan(.sharded)
        plan.stress.hyalineController = true
        plan.stress.limit = .duration(nanoseconds: 100_000_000)
        let document = try plan.run()
        let result = try #require(document.results.first)
        #expect(result.corruption == 0 && result.errors == 0)
        #expect(result.fact("hyalineController") == 1)
        #expect((result.fact("hyalineControllerTicks") ?? 0) > 0)
    }

    // Not named `concurrent…`: the TSan race loop (×50) runs the test above for races; this
    // one and the exchange-only one check what is counted, once per suite run.
    @Test(arguments: allocators)
    func plantedCorruptionIsCountedByEveryRole(_ choice: AllocatorChoice) throws {
        var plan = Self.plan(choice)
        // Odd, so planted slots land in Hyaline (even) and exchange (odd) cells alike, and
        // small, so the publisher's last 64 slots (left for the readers' final pass) hold some.
        plan.stress.plantCorruptionEvery = 7
        plan.stress.recovery = false
        let document = try plan.run()
        let result = try #require(document.results.first)
        #expect(!document.ok, "a planted defect must fail the run")
        #expect(result.corruption > 0)
        for role in [StressRole.bounce, .burst, .retire, .reader] {
            #expect((Self.row(result, role)?.corruption ?? 0) > 0, "\(role.name) missed it")
        }
        #expect((result.fact("hyalineReclaimCorruption") ?? 0) > 0, "the reclaimer missed it")
        #expect(result.errors == 0, "a damaged pattern is corruption, not an error")

        // The same run without the plant is clean.
        var clean = Self.plan(choice)
        clean.stress.recovery = false
        let cleanResult = try #require(try clean.run().results.first)
        #expect(cleanResult.corruption == 0 && cleanResult.errors == 0)
    }

    @Test func exchangeReadersFreeAcrossThreadsWithoutHyaline() throws {
        var plan = Self.plan(.sharded)
        plan.stress.hyaline = false
        let result = try #require(try plan.run().results.first)
        #expect(result.corruption == 0 && result.errors == 0 && result.recovered == true)
        #expect((Self.row(result, .reader)?.crossThreadFrees ?? 0) > 0)
        #expect(result.fact("hyalineReads") == nil)
        #expect((result.fact("crossThreadFrees") ?? 0) > 0)
    }

    @Test func rolesReachTheJSONAndTheHostedReport() throws {
        var plan = Self.plan(.freelist)
        plan.stress.limit = .operations(2_000)
        let document = try plan.run()
        let json = document.json()
        #expect(json.contains(#""roles":[{"role":"bounce","lanes":2,"#))
        #expect(json.contains(#""hyalineMixed":true"#))
        #expect(json.contains(#""hyalinePeakUnreclaimed":"#))
        let report = try RunReport.decode(Data(json.utf8))
        let roles = try #require(report.results.first?.roles)
        #expect(roles.map(\.role) == ["bounce", "publisher", "reader", "burst", "retire"])
        #expect(RunReport(document).results.first?.roles == roles)
        let encoded = String(decoding: try RunReport(document).encoded(), as: UTF8.self)
        #expect(encoded.contains(#""crossThreadFrees""#))
    }
}
