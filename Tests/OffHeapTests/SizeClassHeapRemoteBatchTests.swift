import Synchronization
import Testing

@testable import OffHeap

/// Remote frees wait in the freeing thread's batch (RemoteBatch.swift) and reach the page's
/// remote-free stack at the flush points: a full batch, the freeing thread's allocation slow
/// path, and its exit. Checked by walking the page's stack between the freeing thread's steps.
@Suite("SizeClassHeap remote batches")
struct SizeClassHeapRemoteBatchTests {
    /// The addresses on a page's remote-free stack (the links live in the dead blocks).
    static func remoteStack(_ page: PagePointer) -> Set<UInt> {
        var result = Set<UInt>()
        var cursor = SegmentLayout.threadFree(page).pointee.load(ordering: .acquiring)
        while cursor != 0 {
            result.insert(cursor)
            cursor = UnsafeRawPointer(bitPattern: cursor)!.load(as: UInt.self)
        }
        return result
    }

    /// Each page's remote-free stack head has a cache line of its own in unit 0, after every
    /// descriptor: a push never takes the line of the owner's descriptor (`localFree`,
    /// `used`) nor another page's head.
    @Test func remoteFreeStackHeadsHaveLinesOfTheirOwn() throws {
        let heap = try SizeClassHeap()
        let block = try heap.allocate(byteCount: 64)
        let page = try #require(try heap.validPage(block, free: false))
        let base = UInt(bitPattern: page) & ~SegmentLayout.segmentMask
        let segment = try #require(UnsafeMutableRawPointer(bitPattern: base))
        let descriptorsEnd = UInt(bitPattern: SegmentLayout.pageMeta(segment, SegmentLayout.unitCount))
        var lines = Set<UInt>()
        for unit in 0..<SegmentLayout.unitCount {
            let head = UInt(bitPattern: SegmentLayout.threadFree(SegmentLayout.pageMeta(segment, unit)))
            #expect(head % 64 == 0)
            #expect(head >= descriptorsEnd && head + 64 <= base + UInt(SegmentLayout.unitSize))
            #expect(lines.insert(head / 64).inserted)
        }
        #expect(MemoryLayout<PageMeta>.stride == 64)
        try heap.deallocate(block)
    }

    /// Every block freed by another thread (batched, then flushed at its exit) comes back
    /// to its page's local list exactly once when the owner collects, for every block size
    /// from the smallest class to 4 KiB (batches of 32 blocks down to 2), in both modes; the
    /// page's `used` drops by the number collected, and the blocks are handed out again.
    @Test(arguments: [OffHeapChecking.unchecked, .checked])
    func collectTakesEveryRemoteFreeExactlyOnce(checking: OffHeapChecking) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checking))
        for size in [8, 16, 24, 40, 64, 256, 1024, 4096] {
            let count = 300
            var blocks: [UnsafeMutableRawPointer] = []
            for _ in 0..<count { blocks.append(try heap.allocate(byteCount: size, alignment: 8)) }
            var pages: [UInt: (page: PagePointer, blocks: Set<UInt>, used: Int32)] = [:]
            for block in blocks {
                let page = try #require(try heap.validPage(block, free: false))
                let key = UInt(bitPattern: page)
                pages[key, default: (page, [], 0)].blocks.insert(UInt(bitPattern: block))
            }
            for key in pages.keys { pages[key]!.used = pages[key]!.page.pointee.used }
            let addresses = blocks.map { UInt(bitPattern: $0) }
            let errors = Atomic<Int>(0)
            // The freeing thread's exit flushes its batches.
            let freer = try PlatformThread {
                for address in addresses {
                    do throws(OffHeapError) {
                        try heap.deallocate(UnsafeMutableRawPointer(bitPattern: address)!)
                    } catch {
                        errors.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
            freer.join()
            #expect(errors.load(ordering: .relaxed) == 0)
            for (_, entry) in pages {
                let page = entry.page
                #expect(SizeClassHeapRemoteBatchTests.remoteStack(page) == entry.blocks, "size \(size)")
                let collected = HeapCore.collect(page, checked: checking == .checked)
                #expect(collected == entry.blocks.count, "size \(size)")
                #expect(page.pointee.used == entry.used - Int32(entry.blocks.count), "size \(size)")
                // The local list holds each freed block once (and maybe never-used blocks).
                var seen = Set<UInt>()
                var cursor = page.pointee.localFree
                while let block = cursor, seen.count <= Int(page.pointee.capacity) {
                    #expect(seen.insert(UInt(bitPattern: block)).inserted, "size \(size): a block listed twice")
                    cursor = block.load(as: UnsafeMutableRawPointer?.self)
                }
                #expect(entry.blocks.isSubset(of: seen), "size \(size)")
            }
            // The blocks are usable again: allocate them back and free them locally.
            var again: [UnsafeMutableRawPointer] = []
            for _ in 0..<count { again.append(try heap.allocate(byteCount: size, alignment: 8)) }
            #expect(Set(again.map { UInt(bitPattern: $0) }).count == count)
            for block in again { try heap.deallocate(block) }
        }
    }

    /// The test asks for step n (`asked`), the freeing thread reports it done (`finished`).
    final class Steps: Sendable {
        let asked = Atomic<Int>(0)
        let finished = Atomic<Int>(0)

        func awaitAsked(_ step: Int) {
            while asked.load(ordering: .acquiring) != step { PlatformThread.yield() }
        }

        func awaitFinished(_ step: Int) {
            while finished.load(ordering: .acquiring) != step { PlatformThread.yield() }
        }
    }

    @Test(arguments: [OffHeapChecking.unchecked, .checked])
    func remoteFreesReachThePageAtEachFlushPoint(checking: OffHeapChecking) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checking))
        var blocks: [UnsafeMutableRawPointer] = []
        for index in 0..<64 {
            let block = try heap.allocate(byteCount: 48, alignment: 8)
            block.storeBytes(of: UInt64(index), as: UInt64.self)
            blocks.append(block)
        }
        let page = try #require(try heap.validPage(blocks[0], free: false))
        for block in blocks { #expect(try heap.validPage(block, free: false) == page) }
        let addresses = blocks.map { UInt(bitPattern: $0) }
        let capacity = RemoteBatch.capacity
        let steps = Steps()
        let errors = Atomic<Int>(0)
        let freer = try PlatformThread {
            func free(_ range: Range<Int>) {
                for index in range {
                    do throws(OffHeapError) {
                        try heap.deallocate(UnsafeMutableRawPointer(bitPattern: addresses[index])!)
                    } catch {
                        errors.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
            steps.awaitAsked(1)
            free(0..<5)  // fewer than a batch: they wait
            steps.finished.store(1, ordering: .releasing)
            steps.awaitAsked(2)
            let own = try? heap.allocate(byteCount: 48, alignment: 8)  // a refill: flushes
            steps.finished.store(2, ordering: .releasing)
            steps.awaitAsked(3)
            free(5..<(5 + capacity))  // exactly one full batch: flushed by its last free
            steps.finished.store(3, ordering: .releasing)
            steps.awaitAsked(4)
            free((5 + capacity)..<(8 + capacity))  // left waiting: the exit flushes them
            if let own { try? heap.deallocate(own) } else { errors.wrappingAdd(1, ordering: .relaxed) }
        }
        func expectStack(_ upTo: Int) {
            #expect(Self.remoteStack(page) == Set(addresses[0..<upTo]))
        }
        steps.asked.store(1, ordering: .releasing)
        steps.awaitFinished(1)
        expectStack(0)
        steps.asked.store(2, ordering: .releasing)
        steps.awaitFinished(2)
        expectStack(5)
        steps.asked.store(3, ordering: .releasing)
        steps.awaitFinished(3)
        expectStack(5 + capacity)
        steps.asked.store(4, ordering: .releasing)
        freer.join()
        expectStack(8 + capacity)
        #expect(errors.load(ordering: .relaxed) == 0)
        // The rest are ours; every block comes back once the owner collects.
        for (index, block) in blocks.enumerated().dropFirst(8 + capacity) {
            #expect(block.load(as: UInt64.self) == UInt64(index))
            try heap.deallocate(block)
        }
        heap.trim()
        #expect(heap.statistics.inUseBytes == 0)
        #expect(throws: OffHeapError.self) { try heap.deallocate(blocks[0]) }
    }
}
