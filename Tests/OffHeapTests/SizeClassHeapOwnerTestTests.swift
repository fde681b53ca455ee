@testable import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

/// The free path's owner test (`page.owner != 0 && page.owner.thread == caller's token`)
/// must be passed only by the page's owner. A thread that has no table yet has token 0, and
/// every free record's `thread` is 0; a record goes free (its thread exits) while a racing
/// free may already hold its address from `page.owner`. If a tableless thread reached the
/// test, it would pass it and push onto another thread's page-local list (plain writes to
/// `localFree` and `used` racing the owner's or its abandonment: what ThreadSanitizer
/// reported on aarch64).
@Suite("SizeClassHeap owner test")
struct SizeClassHeapOwnerTestTests {
    /// Freezes the racing moment: the owner's record reads `thread == 0` (as right after the
    /// owner's abandonment) while the page still names it (as read just before). A fresh
    /// thread's first free must go to the page's remote stack, never to its local list.
    @Test(arguments: [true, false])
    func tablelessThreadNeverPassesTheOwnerTest(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let words = HeapTestWords(count: 4)  // 0: victim, 1: kept, 2: step, 3: failures
        let size = 48
        try PlatformThread.run(count: 2) { t in
            if t == 0 {
                // Owner: two blocks on one page, then its record's token reads 0.
                guard let victim = try? heap.allocate(byteCount: size),
                    let kept = try? heap.allocate(byteCount: size),
                    let record = ThreadRecord.lookup(heap.id)
                else { words[3] = 1; words[2] = 1; return }
                heapFillPattern(victim, byteCount: size, tag: 1)
                heapFillPattern(kept, byteCount: size, tag: 2)
                let token = ThreadRecord.currentToken
                record.pointee.thread.store(0, ordering: .relaxed)
                words[0] = UInt(bitPattern: victim)
                words[1] = UInt(bitPattern: kept)
                words[2] = 1
                while words[2] != 2 { PlatformThread.yield() }
                // Back to normal: the owner frees its own block and exits (abandonment).
                record.pointee.thread.store(token, ordering: .relaxed)
                if !heapCheckPattern(kept, byteCount: size, tag: 2)
                    || (try? heap.deallocate(kept)) == nil
                {
                    words[3] = 1
                }
                return
            }
            // Fresh thread: no table, so token 0.
            while words[2] == 0 { PlatformThread.yield() }
            defer { words[2] = 2 }
            guard ThreadLocalSlot.sizeClassHeap.value == nil,
                let victim = UnsafeMutableRawPointer(bitPattern: words[0]),
                let page = try? heap.validPage(victim, free: false)
            else { words[3] = 1; return }
            let localBefore = page.pointee.localFree
            if !heapCheckPattern(victim, byteCount: size, tag: 1)
                || (try? heap.deallocate(victim)) == nil
            {
                words[3] = 1
            }
            // Remote: in this thread's batch, then (flushed) on the page's remote stack; the
            // local list untouched.
            if let record = ThreadRecord.lookup(heap.id) { ThreadHeap.flushRemoteBatches(record) }
            if SegmentLayout.threadFree(page).pointee.load(ordering: .relaxed) != UInt(bitPattern: victim)
                || page.pointee.localFree != localBefore
            {
                words[3] = 2
            }
        }
        #expect(words[3] == 0)
        #expect(heap.statistics.remoteFrees == 1)
        heap.trim()
        let stats = heap.statistics
        #expect(stats.inUseBytes == 0)
        #expect(stats.abandonedPages == 0)
        #expect(stats.committedBytes == 0)
    }

    /// The race itself: owners publish blocks and exit at once (abandoning their pages)
    /// while fresh threads make their first frees into those pages. Every free is remote
    /// (no freer ever owns a page), so the remote count is exact; a free that took the owner
    /// path would lower it and corrupt the page's counts, seen as bytes left in use.
    @Test func concurrentFirstFreesRaceTheOwnersExit() throws {
        let heap = try SizeClassHeap()
        let rounds = 24, owners = 2, freersPerOwner = 3, perFreer = 8
        let perOwner = freersPerOwner * perFreer
        let failures = Atomic<Int>(0)
        for round in 0..<rounds {
            let slots = HeapTestWords(count: owners * perOwner)
            let published = HeapTestWords(count: owners)
            try PlatformThread.run(count: owners * (1 + freersPerOwner)) { t in
                if t < owners {
                    for i in 0..<perOwner {
                        let size = 16 + (i &* 40 + round &* 8) % 200
                        guard let block = try? heap.allocate(byteCount: size) else {
                            failures.wrappingAdd(1, ordering: .relaxed)
                            continue
                        }
                        heapFillPattern(block, byteCount: size, tag: UInt64(round << 24 | t << 16 | i))
                        slots[t * perOwner + i] = UInt(bitPattern: block)
                    }
                    published[t] = 1
                    return  // exit now: abandonment races the freers' first frees
                }
                let owner = (t - owners) % owners, freer = (t - owners) / owners
                while published[owner] == 0 { PlatformThread.yield() }
                for k in 0..<perFreer {
                    let i = freer * perFreer + k
                    guard let block = UnsafeMutableRawPointer(bitPattern: slots[owner * perOwner + i])
                    else { continue }
                    let size = 16 + (i &* 40 + round &* 8) % 200
                    if !heapCheckPattern(block, byteCount: size,
                                         tag: UInt64(round << 24 | owner << 16 | i))
                        || (try? heap.deallocate(block)) == nil
                    {
                        failures.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(heap.statistics.remoteFrees == UInt64(rounds * owners * perOwner))
        heap.trim()
        let stats = heap.statistics
        #expect(stats.inUseBytes == 0)
        #expect(stats.abandonedPages == 0)
        #expect(stats.committedBytes == 0)
        #expect(stats.mappedSegments == 0)
    }
}
