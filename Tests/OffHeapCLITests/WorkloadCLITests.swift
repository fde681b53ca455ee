import OffHeap
import OffHeapWorkloads
import Testing
@testable import offheap

@Suite("offheap CLI options")
struct WorkloadCLITests {
    @Test func badOptionsExitWith2() {
        let bad: [[String]] = [
            ["stress", "--threads", "0"],
            ["stress", "--threads", "many"],
            ["stress", "--threads", "1,2"],
            ["bench", "--threads", "1,1"],
            ["bench", "--threads", "2,"],
            ["bench", "--sizes", "4"],
            ["bench", "--sizes", "16,16"],
            ["stress", "--sizes", "16"],
            ["bench", "--duration", "10x"],
            ["bench", "--duration", "0s"],
            ["stress", "--duration", "1s", "--operations", "5"],
            ["stress", "--operations", "0"],
            ["stress", "--peers", "hoard"],
            ["bench", "--workload", "nope"],
            ["stress", "--allocator", "magic"],
            ["stress", "--roles", "publisher"],
            ["stress", "--slot-size", "4"],
            ["bench", "--min-size", "512", "--max-size", "64"],
            ["bench", "--rag-top-k", "10", "--rag-vectors", "5"],
            ["stress", "--unknown-flag"],
            ["frobnicate"],
        ]
        for arguments in bad {
            #expect(OffHeapCommand.parseStatus(arguments) == 2, "\(arguments)")
        }
    }

    @Test func goodOptionsParse() {
        let good: [[String]] = [
            ["stress"],
            ["stress", "--threads", "8", "--duration", "2m", "--roles", "bounce,publisher,reader",
             "--capacity", "4096", "--slot-size", "64", "--json", "/tmp/x.json"],
            ["bench", "--workload", "all", "--operations", "1000", "--peers", "all"],
            ["bench", "--workload", "larson", "--threads", "1,2,4"],
            ["bench", "--workload", "random-mixed", "--sizes", "16,64,256,1024"],
            ["bench", "--workload", "rag,larson", "--rag-dimensions", "1536", "--duration", "500ms"],
            ["probe", "--json", "-"],
            ["--help"],
        ]
        for arguments in good {
            #expect(OffHeapCommand.parseStatus(arguments) == 0, "\(arguments)")
        }
    }

    @Test func uncheckedHeapIsSelectableByNameInTheCLIAndTheEngine() throws {
        #expect(AllocatorChoice(name: "heap-unchecked") == .heapUnchecked)
        #expect(AllocatorChoice.heapUnchecked.name == "heap-unchecked")
        #expect(try AllocatorChoice.parseList("heap,heap-unchecked,heap") == [.heap, .heapUnchecked])
        #expect(try AllocatorChoice.parseList("all").contains(.heapUnchecked))
        #expect(throws: OffHeapError.self) { try AllocatorChoice.parseList("heap-unchecke") }
        #expect(OffHeapCommand.parseStatus(["bench", "--allocator", "heap-unchecked,system"]) == 0)
        let bench = try BenchCommand.parse(["--allocator", "heap,heap-unchecked", "--operations", "7"])
        #expect(try RunPlan.parse(bench.engineArguments).plan.allocators == [.heap, .heapUnchecked])
        // The Embedded engine's own argv parser.
        let engine = try RunPlan.parse(["bench", "--allocator", "heap-unchecked"]).plan
        #expect(engine.allocators == [.heapUnchecked])
    }

    @Test func cliForwardsTheSameOptionsAsTheEngine() throws {
        let command = try StressCommand.parse([
            "--threads", "4", "--duration", "3s", "--roles", "retire,burst", "--capacity", "99",
        ])
        let invocation = try RunPlan.parse(command.engineArguments)
        #expect(invocation.plan.command == .stress)
        #expect(invocation.plan.stress.threads == 4)
        #expect(invocation.plan.stress.limit == .duration(nanoseconds: 3_000_000_000))
        #expect(invocation.plan.stress.roles == [.retire, .burst])
        #expect(invocation.plan.capacity == 99)
        let bench = try BenchCommand.parse(["--workload", "rag", "--rag-vectors", "10", "--operations", "7"])
        let plan = try RunPlan.parse(bench.engineArguments).plan
        #expect(plan.workloads == [.rag])
        #expect(plan.workload.ragVectors == 10)
        #expect(plan.workload.limit == .operations(7))
    }

    @Test func engineParserRejectsWithTypedErrors() {
        for arguments in [[], ["run"], ["stress", "--threads"], ["stress", "--threads", "x"],
                          ["bench", "--workload", ""], ["stress", "--bogus", "1"]] {
            #expect(throws: OffHeapError.self, "\(arguments)") { try RunPlan.parse(arguments) }
        }
    }
}
