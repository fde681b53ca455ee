@testable import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

/// A thread's private list of free retire records is bounded by the domain's
/// `privateRecordLimit`: batches freed by a leaving reader used to be appended whenever
/// the list was below the limit, so one thread could keep `limit − 1 + batch` records
/// until it exited, and a few idle threads could hold most of the domain's records.
@Suite("Hyaline record hoard")
struct HyalineRecordHoardTests {
    @Test func concurrentLeavingReaderKeepsAtMostTheLimit() throws {
        let pool = try TestSlotPool(slotSize: 16, capacity: 1024)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain.withRuntimeRow(
            .init(maximumReaders: 8, recordCapacity: 4096, batchThreshold: 50, stripes: 1))
        let id = try domain.register(reclaimer)
        let limit = domain.privateRecordLimit
        #expect(limit == 128)
        let phase = Atomic<Int>(0)
        let kept = Atomic<Int>(-1)
        // The reader: inside while the retirer flushes ten batches into its slot; its
        // leave frees them all on its own thread.
        let reader = try PlatformThread {
            do throws(OffHeapError) {
                let guardian = try domain.enter()
                phase.store(1, ordering: .releasing)
                while phase.load(ordering: .acquiring) != 2 { PlatformThread.yield() }
                guardian.leave()
                guard let raw = ThreadLocalSlot.hyaline.value else { return }
                let entry = HyalineThreadTable(raw).entry(domain.registryRow)
                kept.store(Int(entry[HyalineThreadTable.freeCount]), ordering: .releasing)
            } catch {
                phase.store(-1, ordering: .releasing)
            }
        }
        while phase.load(ordering: .acquiring) == 0 { PlatformThread.yield() }
        try domain.withGuard { guardian throws(OffHeapError) in
            for _ in 0..<(10 * 50) {
                try guardian.retire(try pool.allocate(), birthEra: 0, reclaimer: id)
            }
            guardian.flushPending()
        }
        phase.store(2, ordering: .releasing)
        reader.join()
        print("reader kept \(kept.load(ordering: .acquiring)) free records, limit \(limit), batches \(domain.statistics.batches)")
        #expect(kept.load(ordering: .acquiring) >= 0)
        #expect(kept.load(ordering: .acquiring) <= limit,
            "the reader kept \(kept.load(ordering: .acquiring)) free records (limit \(limit))")
        _ = domain.reclaimPending()
        #expect(domain.statistics.unreclaimed == 0)
    }
}
