import ArgumentParser
import Foundation
import OffHeapReports
import OffHeapWorkloads

/// `offheap probe`: the address-space and CPU facts the allocators depend on.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Report LA57, virtual address bits, page sizes, huge pages and the CPU.")

    @Option(help: "Write the document (offheap.run/1, command probe) to FILE ('-' for standard output).")
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
        print(ProbeCommand.render(machine))
    }

    static func render(_ m: MachineFacts) -> String {
        """
        arch                 \(m.arch)\(m.emulated ? " (emulated)" : "")
        cpu                  \(m.cpuModel)
        cores                \(m.cores)
        kernel               \(m.kernel)
        la57                 \(m.la57 ? "yes (5-level paging)" : "no")
        virtual address bits \(m.virtualAddressBits) in use (CPU reports \(m.cpuVirtualAddressBits))
        page size            \(m.pageSize)
        huge page size       \(m.hugePageSize)
        transparent huge     \(m.transparentHugePages.isEmpty ? "unavailable" : m.transparentHugePages)
        hugetlb pages        \(m.hugePagesTotal)
        """
    }
}
