import OffHeap
import OffHeapWorkloads
import Testing
@testable import offheap

/// The stress options as the hosted CLI parses them and as it hands them to the Embedded
/// engine's parser (the roles themselves: WorkloadStressRolesTests).
@Suite("offheap CLI stress options")
struct StressOptionTests {
    @Test func optionsParseInTheCLIAndTheEngine() throws {
        let command = try StressCommand.parse([
            "--roles", "all", "--threads", "6", "--hyaline", "mixed", "--hyaline-controller", "on",
            "--hyaline-budget", "96", "--plant-corruption", "5", "--allocator", "freelist,sharded,heap",
        ])
        let plan = try RunPlan.parse(command.engineArguments).plan
        #expect(plan.stress.roles == StressRole.all)
        #expect(plan.stress.hyaline && plan.stress.hyalineMixed && plan.stress.hyalineController)
        #expect(plan.stress.hyalineBudget == 96)
        #expect(plan.stress.plantCorruptionEvery == 5)
        #expect(plan.allocators == [.freelist, .sharded, .heap])
        let off = try RunPlan.parse(["stress", "--hyaline", "off"]).plan.stress
        #expect(!off.hyaline && !off.hyalineMixed && !off.hyalineController)
        for bad in [["stress", "--hyaline", "both"], ["stress", "--hyaline-controller", "yes"],
                    ["stress", "--hyaline-budget", "0"], ["stress", "--plant-corruption", "-1"],
                    ["stress", "--roles", "all,bounce"]] {
            #expect(throws: OffHeapError.self, "\(bad)") { try RunPlan.parse(bad) }
            #expect(OffHeapCommand.parseStatus(bad) == 2, "\(bad)")
        }
    }
}
