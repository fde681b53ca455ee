import ArgumentParser
import OffHeap
import OffHeapReports
import OffHeapWorkloads

struct StressCommand: EngineCommand {
    static let command = RunPlan.Command.stress
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract:
            "Hammer allocators with bounce/publisher/reader/burst/retire workers, verify every slot, "
            + "then exhaust and recover.",
        discussion: """
            Each allocator runs for --duration (or --operations) with --threads workers; every \
            slot written is verified before it is freed, and afterwards the allocator must hand \
            out its whole --capacity again. Exit status: 0 ok, 1 corruption or errors, 2 bad options.

            Examples:
              offheap stress
                  The defaults: heap and sharded, 2 bounce workers, 1 s each.
              offheap stress --allocator freelist,sharded,heap --roles all \\
                  --hyaline mixed --threads 6 --duration 10s
                  Every role; half the mailbox cells go through Hyaline.
              offheap stress --allocator heap --threads 4 --duration 2s \\
                  --roles publisher,stalled,reader,publisher
                  A Hyaline reader stays inside the whole run: its pinned
                  peak must stay under the stated bound.
              offheap stress --allocator sharded --roles all --threads 5 \\
                  --hyaline-controller on --interval 50ms --json stress.json
                  The PI threshold controller on, a timeline point every
                  50 ms, the run document written to stress.json.
            """)

    @OptionGroup var common: CommonOptions
    @Option(name: .run(.roles), help: .run(.roles))
    var roles: ChoiceList<StressRole>?
    @Option(name: .run(.hyaline), help: .run(.hyaline))
    var hyaline: Choice<HyalineMode>?
    @Flag(name: .run(.noHyaline), help: .run(.noHyaline))
    var noHyaline = false
    @Option(name: .run(.hyalineController), help: .run(.hyalineController))
    var hyalineController: Choice<OnOff>?
    @Option(name: .run(.hyalineBudget), help: .run(.hyalineBudget))
    var hyalineBudget: Int?
    @Option(name: .run(.plantCorruption), help: .run(.plantCorruption))
    var plantCorruption: Int?
    @Option(name: .run(.slotSize), help: .run(.slotSize))
    var slotSize: Int?
    @Option(name: .run(.capacity), help: .run(.capacity))
    var capacity: Int?
    @Option(name: .run(.burstSize), help: .run(.burstSize))
    var burstSize: Int?
    @Option(name: .run(.retireDepth), help: .run(.retireDepth))
    var retireDepth: Int?
    @Option(name: .run(.mailboxSize), help: .run(.mailboxSize))
    var mailboxSize: Int?
    @Option(name: .run(.interval), help: .run(.interval))
    var interval: String?

    var given: [(RunOption, String?)] {
        common.given + [
            (.roles, roles?.text), (.hyaline, hyaline?.text),
            (.noHyaline, noHyaline ? "" : nil), (.hyalineController, hyalineController?.text),
            (.hyalineBudget, hyalineBudget.map { String($0) }),
            (.plantCorruption, plantCorruption.map { String($0) }),
            (.slotSize, slotSize.map { String($0) }), (.capacity, capacity.map { String($0) }),
            (.burstSize, burstSize.map { String($0) }),
            (.retireDepth, retireDepth.map { String($0) }),
            (.mailboxSize, mailboxSize.map { String($0) }), (.interval, interval),
        ]
    }
}
