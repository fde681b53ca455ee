import ArgumentParser
import OffHeap

@main
struct OffHeapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offheap",
        abstract: "Stress, benchmark and probe the swift-offheap allocators.")

    func run() throws {
        print("page size: \(VirtualMemory.pageSize)")
    }
}
