@testable import OffHeap
import Synchronization
import Testing

/// Carries a guard to another thread: what a task resuming elsewhere after an `await`
/// does (`enter()` is `noasync` now, so that no longer compiles; this box is the unsafe way
/// around it, standing in for code that slips past the compiler).
private final class GuardBox: @unchecked Sendable {
    var guardian: HyalineGuard?
    init(_ guardian: consuming HyalineGuard) { self.guardian = .some(guardian) }
}

@Suite("HyalineGuard thread check")
struct HyalineGuardThreadTests {
    /// A guard that ends on another thread than the one that entered must not write the
    /// entering thread's table (plain stores into another thread's memory, unmapped when
    /// that thread exits). It leaves the slot; the entering thread gets its sticky slot back
    /// at its next enter, and the domain counts the misplaced leave.
    @Test func concurrentGuardLeftOnAnotherThreadDoesNotTouchTheEnterersTable() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 256)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4, batchThreshold: 4, stripes: 1))
        let id = try domain.register(reclaimer)
        let first = try domain.enter()
        let sticky = first.slotIndex
        // A retire inside: its record sits in this thread's private chunk.
        try first.retire(try pool.allocate(), birthEra: domain.birthEra(), reclaimer: id)
        let raw = try #require(ThreadLocalSlot.hyaline.value)
        let entry = HyalineThreadTable(raw).entry(domain.registryRow)
        #expect(entry[HyalineThreadTable.active] == 1)
        let box = GuardBox(first)
        let other = try PlatformThread { box.guardian = nil }
        other.join()
        // The other thread did not write this thread's entry.
        #expect(entry[HyalineThreadTable.active] == 1)
        #expect(entry[HyalineThreadTable.chunkCount] == 1)
        #expect(domain.statistics.misplacedLeaves == 1)
        // The slot was left; the next enter here takes the sticky slot back.
        let again = try domain.enter()
        #expect(again.slotIndex == sticky)
        again.leave()
        #expect(entry[HyalineThreadTable.active] == 0)
        #expect(entry[HyalineThreadTable.chunkCount] == 0)
        // Nothing was lost: the stranded record was published at that leave.
        _ = domain.reclaimPending()
        #expect(domain.statistics.retired == 1)
        #expect(domain.statistics.reclaimed == 1)
    }
}
