import OffHeap
import Synchronization

/// Off-heap cells through which one thread hands pointers to another.
///
/// Invariant: a producer writes a slot's contents, then stores the slot's address into its
/// cell with a releasing store; a consumer loads the cell with an acquiring load before it
/// reads the slot, so it sees everything the producer wrote. 0 means "no pointer".
///
/// `@unchecked Sendable`: the cells are reached through a raw pointer, but every access to
/// them is atomic, and the mapping lives until `deinit`, after all threads are joined.
final class PointerMailbox: @unchecked Sendable {
    let count: Int
    private let region: VirtualRegion
    private let cells: UnsafeMutablePointer<Atomic<UInt>>

    init(count: Int) throws(OffHeapError) {
        self.count = count
        region = try VirtualMemory.reserve(
            byteCount: count * MemoryLayout<Atomic<UInt>>.stride, committed: true)
        cells = region.base.bindMemory(to: Atomic<UInt>.self, capacity: count)
        for index in 0..<count { (cells + index).initialize(to: Atomic(0)) }
    }

    deinit {
        _ = try? VirtualMemory.release(region)
    }

    func publish(_ pointer: UnsafeMutableRawPointer?, at index: Int) {
        cells[index].store(UInt(bitPattern: pointer), ordering: .releasing)
    }

    func take(at index: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: cells[index].exchange(0, ordering: .acquiring))
    }
}
