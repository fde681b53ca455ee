import Synchronization
import Testing

@testable import OffHeap

/// Issue 14 item 11: a free (or `usableSize`) that passed the registry check must not find
/// the segment unmapped when it reads the header: unmaps wait for announced frees.
@Suite("SizeClassHeap unmap vs free")
struct SizeClassHeapUnmapRaceTests {
    /// The second of two frees of a huge block, step by step as `deallocate` performs it:
    /// announce, registry check (the segment is still this heap's), then, while the first
    /// free runs on another thread and unmaps the block (no huge cache), the header read.
    /// Before the announcement existed the first free unmapped at once and the read below
    /// was a SIGSEGV; now the unmap waits until the second free is done with the header.
    @Test func unmapWaitsForAFreeBetweenItsRegistryCheckAndItsHeaderRead() throws {
        let heap = try SizeClassHeap(configuration: .init(hugeCacheCount: 0))
        let p = try heap.allocate(byteCount: 8 << 20)
        let base = UInt(bitPattern: p) & ~SegmentLayout.segmentMask
        let header = SegmentLayout.header(UnsafeMutableRawPointer(bitPattern: base)!)
        let table = UnsafeMutableRawPointer(try ThreadRecord.current())

        // The freeing thread creates its thread table before our announcement: creating one
        // takes the table list's lock, which an unmap elsewhere (another test's heap) may
        // hold while it waits for our announcement to end; the thread would then never
        // reach the free this test waits for.
        let finished = Atomic<Int>(0)
        let phase = Atomic<Int>(0)
        let address = UInt(bitPattern: p)
        let first = try PlatformThread {
            _ = try? ThreadRecord.current()
            phase.store(1, ordering: .releasing)
            while phase.load(ordering: .acquiring) != 2 { PlatformThread.yield() }
            do throws(OffHeapError) {
                try heap.deallocate(UnsafeMutableRawPointer(bitPattern: address)!)
                finished.store(1, ordering: .releasing)
            } catch {
                finished.store(2, ordering: .releasing)
            }
        }
        while phase.load(ordering: .acquiring) != 1 { PlatformThread.yield() }
        #expect(ThreadRecord.announceFree(table, light: heap.lightAnnouncements))
        #expect(heap.registry.owner(ofSegment: base) == heap.id)
        phase.store(2, ordering: .releasing)
        // Until the first free has taken the block (and is unmapping, or done). The deadline
        // only keeps a broken build from hanging: the loop ends as soon as the block is taken.
        let deadline = MonotonicClock.nanoseconds + 30_000_000_000
        while finished.load(ordering: .acquiring) == 0
            && header.pointee.hugeLive.load(ordering: .acquiring) == 1
            && MonotonicClock.nanoseconds < deadline
        {
            PlatformThread.sleep(nanoseconds: 1_000_000)
        }
        PlatformThread.sleep(nanoseconds: 20_000_000)  // a waiting unmap stays waiting
        let unmappedBeforeOurRead = finished.load(ordering: .acquiring) != 0
        let kind = header.pointee.kind
        let live = header.pointee.hugeLive.load(ordering: .acquiring)
        let offset = header.pointee.hugeOffset
        ThreadRecord.endFree(table)
        first.join()

        #expect(!unmappedBeforeOurRead)
        #expect(kind == SegmentLayout.kindHuge)
        #expect(live == 0)
        #expect(base + UInt(offset) == UInt(bitPattern: p))
        #expect(finished.load(ordering: .acquiring) == 1)
        #expect(heap.registry.owner(ofSegment: base) == 0)
        #expect(throws: OffHeapError.foreignPointer) { try heap.deallocate(p) }
        #expect(throws: OffHeapError.foreignPointer) { _ = try heap.usableSize(of: p) }
    }

    /// Rounds of: four threads free the same huge block, each several times, while another
    /// thread trims in a loop (the first free parks the block in the huge cache, a trim
    /// unmaps it under the later, stale frees). Exactly one free per round succeeds; every
    /// other one is `.doubleFree` (block still mapped) or `.foreignPointer` (unmapped).
    /// Before the free announcement an unmap that fell between a free's registry check and
    /// its header read faulted (SIGSEGV).
    @Test func concurrentStaleAndDoubleHugeFreesRacingTrimGetTypedErrors() throws {
        let heap = try SizeClassHeap()
        let rounds = 10  // x50 in the matrix's TSan race loop
        let racers = 4
        let huge = Atomic<UInt>(0)
        let phase = Atomic<Int>(0)  // round r runs while phase == 2r+1
        let arrived = Atomic<Int>(0)
        let successes = Atomic<Int>(0)
        let wrongErrors = Atomic<Int>(0)
        let lostRounds = Atomic<Int>(0)

        try PlatformThread.run(count: racers + 1) { thread in
            if thread == racers {
                // Referee: sets up each round, then trims until every racer is done.
                for round in 0..<rounds {
                    let size = (1 << 20) + (round % 7) * 4096
                    huge.store(
                        UInt(bitPattern: try! heap.allocate(byteCount: size)), ordering: .relaxed)
                    successes.store(0, ordering: .relaxed)
                    arrived.store(0, ordering: .relaxed)
                    phase.store(2 * round + 1, ordering: .releasing)
                    while arrived.load(ordering: .acquiring) < racers { heap.trim() }
                    heap.trim()
                    if successes.load(ordering: .acquiring) != 1 { lostRounds.add(1, ordering: .relaxed) }
                    phase.store(2 * round + 2, ordering: .releasing)
                }
                return
            }
            for round in 0..<rounds {
                while phase.load(ordering: .acquiring) != 2 * round + 1 { PlatformThread.yield() }
                let block = UnsafeMutableRawPointer(bitPattern: huge.load(ordering: .relaxed))!
                for attempt in 0..<6 {
                    do throws(OffHeapError) {
                        try heap.deallocate(block)
                        successes.add(1, ordering: .relaxed)
                    } catch {
                        if error != .doubleFree && error != .foreignPointer {
                            wrongErrors.add(1, ordering: .relaxed)
                        }
                    }
                    if attempt & 1 == thread & 1 { PlatformThread.yield() }
                }
                arrived.add(1, ordering: .releasing)
                while phase.load(ordering: .acquiring) == 2 * round + 1 { PlatformThread.yield() }
            }
        }
        #expect(wrongErrors.load(ordering: .relaxed) == 0)
        #expect(lostRounds.load(ordering: .relaxed) == 0)
        heap.trim()
        #expect(heap.statistics.hugeBlocks == 0)
    }
}
