import ArgumentParser
import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads

/// `offheap probe`: the address-space and CPU facts the allocators depend on.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Report LA57, virtual address bits, page sizes, huge pages and the CPU.",
        discussion: """
            The facts the allocators depend on, as they see them: 5-level paging, the bits \
            of a user address, the base and huge page sizes, and whether this runs under QEMU.

            Examples:
              offheap probe
              offheap probe --json probe.json
              offheap probe --json - | jq .machine
            """)

    @Option(
        help: ArgumentHelp(
            "Write the document (offheap.run/1, command probe) to this file ('-' for standard output).",
            valueName: "file"))
    var json: String?

    func run() throws {
        let machine = MachineFacts.current()
        let report = RunReport(RunDocument(command: "probe", machine: machine))
        if let json {
            let data = try report.encoded()
            if json == "-" {
                FileHandle.standardOutput.write(data)
                FileHandle.standardOutput.write(Data("\n".utf8))
                return
            }
            try data.write(to: URL(fileURLWithPath: json))
        }
        print(AddressSpaceProbe.run().render())
        if machine.emulated { print("emulated             yes (QEMU user mode)") }
    }
}
