@testable import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

/// The free fast path's contract (`SizeClassHeap.FreeRoute`): it frees only a live block of
/// a page the calling thread owns, and then it has ended the free announcement; on every
/// other route it changes nothing and leaves the announcement open for the slow path, which
/// ends it. liboffheap-malloc's `free` relies on both: it returns at once on `.freed`, and an
/// unmap must still wait for a free that was routed to the slow path.
@Suite("SizeClassHeap free routes")
struct SizeClassHeapFreeRouteTests {
    /// The calling thread's free announcement is open (odd sequence).
    private func announcing(_ table: UnsafeMutableRawPointer) -> Bool {
        ThreadRecord.freeSequence(table).pointee.load(ordering: .relaxed) & 1 != 0
    }

    /// `pointer` is declined with the announcement left open, and the slow path then throws
    /// `error` and ends the announcement.
    private func expectDeclined(
        _ heap: SizeClassHeap, _ pointer: UnsafeMutableRawPointer, table: UnsafeMutableRawPointer,
        then error: OffHeapError
    ) {
        let route = heap.deallocateFast(pointer)
        guard case .declined = route else {
            Issue.record("the fast path did not decline \(pointer): \(route)")
            return
        }
        #expect(announcing(table))
        #expect(throws: error) { try heap.finishDeallocate(pointer, route) }
        #expect(!announcing(table))
    }

    @Test(arguments: [true, false])
    func ownBlockIsFreedWithTheAnnouncementEnded(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let a = try heap.allocate(byteCount: 40)
        let b = try heap.allocate(byteCount: 40)  // keeps the page in use
        let table = UnsafeMutableRawPointer(try ThreadRecord.current())
        guard case .freed = heap.deallocateFast(a) else {
            Issue.record("a live block of the caller's current page was not freed by the fast path")
            return
        }
        #expect(!announcing(table))
        // Freed for real: the page's next allocation is the same block (LIFO local list).
        #expect(try heap.allocate(byteCount: 40) == a)
        try heap.deallocate(a)
        try heap.deallocate(b)
    }

    @Test func foreignPointerIsDeclinedWithTheAnnouncementOpen() throws {
        let heap = try SizeClassHeap()
        _ = try heap.allocate(byteCount: 16)  // the thread is attached, its table exists
        let table = UnsafeMutableRawPointer(try ThreadRecord.current())
        let foreign = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { foreign.deallocate() }
        expectDeclined(heap, foreign, table: table, then: .foreignPointer)
    }

    /// Checked mode: a block already freed is declined by the fast path (nothing changes)
    /// and the slow path reports the double free; the heap stays usable.
    @Test func checkedDoubleFreeIsDeclinedThenReported() throws {
        let heap = try SizeClassHeap(configuration: .init(checking: .checked))
        let a = try heap.allocate(byteCount: 40)
        let b = try heap.allocate(byteCount: 40)
        try heap.deallocate(a)
        let table = UnsafeMutableRawPointer(try ThreadRecord.current())
        expectDeclined(heap, a, table: table, then: .doubleFree)
        // Still usable, and `a` was freed once: it comes back once.
        let again = try heap.allocate(byteCount: 40)
        #expect(again == a)
        try heap.deallocate(again)
        try heap.deallocate(b)
    }

    /// A block of another thread's page: routed to the remote path untouched (the owner's
    /// local list and in-use count are not the caller's to write), announcement open; the
    /// slow path frees it remotely and ends the announcement.
    @Test(arguments: [true, false])
    func otherThreadsBlockIsRoutedToTheRemotePath(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let words = HeapTestWords(count: 3)  // 0: block, 1: step, 2: owner's check failed
        let size = 72
        try PlatformThread.run(count: 2) { t in
            if t == 0 {
                guard let block = try? heap.allocate(byteCount: size),
                    let keep = try? heap.allocate(byteCount: size)
                else { words[2] = 1; words[1] = 1; return }
                heapFillPattern(block, byteCount: size, tag: 7)
                words[0] = UInt(bitPattern: block)
                words[1] = 1
                while words[1] != 2 { PlatformThread.yield() }
                // The remote free reaches the owner: the block comes back to it.
                var back = false
                for _ in 0..<1000 where !back {
                    guard let next = try? heap.allocate(byteCount: size) else { break }
                    back = next == block
                }
                if !back { words[2] = 1 }
                try? heap.deallocate(keep)
            } else {
                while words[1] != 1 { PlatformThread.yield() }
                guard let block = UnsafeMutableRawPointer(bitPattern: words[0]) else { words[1] = 2; return }
                #expect(heapCheckPattern(block, byteCount: size, tag: 7))
                let table = UnsafeMutableRawPointer(try! ThreadRecord.current())
                let route = heap.deallocateFast(block)
                guard case .notOwner = route else {
                    Issue.record("another thread's block was not routed to the remote path: \(route)")
                    words[1] = 2
                    return
                }
                #expect(announcing(table))
                #expect(throws: Never.self) { try heap.finishDeallocate(block, route) }
                #expect(!announcing(table))
                // Hand the batched remote free to the page now (RemoteBatch.swift).
                if let record = ThreadRecord.lookup(heap.id) { ThreadHeap.flushRemoteBatches(record) }
                words[1] = 2
            }
        }
        #expect(words[2] == 0)
        #expect(heap.statistics.remoteFrees >= 1)
    }

    /// A free into a page on the full list returns `.freedInto` with that page (the caller
    /// moves it back to `active`); the announcement is already ended. The next free into the
    /// same page is an ordinary `.freed`.
    @Test(arguments: [true, false])
    func freeIntoAFullPageRoutesThePageMove(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let size = 1024
        let table = UnsafeMutableRawPointer(try ThreadRecord.current())
        let first = try heap.allocate(byteCount: size)
        guard let (firstPage, _) = heap.smallPage(first, table: table) else {
            Issue.record("a small block has no page")
            return
        }
        // Allocate until a block comes from another page: the first page is then full.
        var blocks = [first]
        while true {
            let block = try heap.allocate(byteCount: size)
            blocks.append(block)
            guard let (page, _) = heap.smallPage(block, table: table) else {
                Issue.record("a small block has no page")
                return
            }
            if page != firstPage { break }
            #expect(blocks.count < 1000, "a 1 KiB page never filled")
            if blocks.count >= 1000 { return }
        }
        #expect(firstPage.pointee.listState == PageMeta.inFull)
        let route = heap.deallocateFast(first)
        guard case .freedInto(_, let page) = route else {
            Issue.record("a free into a full page did not route the page move: \(route)")
            return
        }
        #expect(page == firstPage)
        #expect(!announcing(table))
        try heap.finishDeallocate(first, route)
        #expect(firstPage.pointee.listState == PageMeta.inActive)
        guard case .freed = heap.deallocateFast(blocks[1]) else {
            Issue.record("a free into an active page with blocks in use was not a plain free")
            return
        }
        for block in blocks.dropFirst(2) { try heap.deallocate(block) }
    }
}
