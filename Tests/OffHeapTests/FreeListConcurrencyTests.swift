import COffHeapShims
import Synchronization
import Testing

@testable import OffHeap
import OffHeapTestSupport

/// Off-heap-free shared atomics for test threads (mailboxes, ownership tables, counters).
final class SharedWords: @unchecked Sendable {
    // @unchecked Sendable: the storage is only accessed through atomics.
    let words: UnsafeMutablePointer<Atomic<UInt64>>
    let count: Int

    init(count: Int) {
        self.count = count
        words = .allocate(capacity: count)
        for i in 0..<count { (words + i).initialize(to: Atomic(0)) }
    }

    deinit {
        words.deinitialize(count: count)
        words.deallocate()
    }

    func at(_ i: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { words + i }
}

/// Records unexpected outcomes inside worker threads; checked after join.
final class Failures: @unchecked Sendable {
    // @unchecked Sendable: atomics only.
    let words = SharedWords(count: 2)

    func record(_ code: UInt64) {
        words.at(0).pointee.add(1, ordering: .relaxed)
        _ = words.at(1).pointee.compareExchange(expected: 0, desired: code, ordering: .relaxed)
    }

    func record(_ error: OffHeapError) { record(1000 + UInt64(error.kind.rawValue)) }

    var count: Int { Int(words.at(0).pointee.load(ordering: .acquiring)) }
    /// 1 = pattern mismatch, 2 = slot handed out twice, 3 = ownership lost, 1000+k = error kind k.
    var firstCode: UInt64 { words.at(1).pointee.load(ordering: .acquiring) }
}


@Suite("FreeList concurrency")
struct FreeListConcurrencyTests {
    static let threads = 8

    /// Allocates until `.capacityExhausted` (at most capacity + 1 times, so a corrupted list that
    /// cycles shows up as duplicates instead of a hang); returns the slot indices.
    func drain(_ pool: FreeList) throws -> [Int] {
        var indices: [Int] = []
        while indices.count <= pool.capacity {
            do throws(OffHeapError) {
                indices.append(try pool.slotIndex(of: try pool.allocate()))
            } catch .capacityExhausted {
                return indices
            }
        }
        return indices
    }

    @Test func concurrentAllocateFreeWithCrossThreadHandoffAcross8Threads() throws {
        let capacity = 2048
        let pool = try FreeList(
            configuration:
                .init(slotSize: 64, capacity: capacity, slabSize: VirtualMemory.pageSize))
        let owners = SharedWords(count: capacity)  // slot → allocating thread + 1
        let mailboxes = SharedWords(count: 32)  // slot index + 1, or 0
        let failures = Failures()
        let words = pool.slotSize / 8

        @Sendable func receive(_ boxed: UInt64) {
            let index = Int(boxed - 1)
            let p = pool.slot(at: index)!
            guard let owner = Pattern.validate(p, words: words, index: index) else {
                return failures.record(1)
            }
            // Only the allocating thread's claim may be on the slot.
            guard owners.at(index).pointee.compareExchange(
                expected: UInt64(owner + 1), desired: 0, ordering: .acquiringAndReleasing
            ).exchanged else { return failures.record(3) }
            do throws(OffHeapError) { try pool.deallocate(p) } catch { failures.record(error) }
        }

        try PlatformThread.run(count: Self.threads) { thread in
            for generation in 0..<1500 {
                let p: UnsafeMutableRawPointer
                do throws(OffHeapError) { p = try pool.allocate() } catch { return failures.record(error) }
                guard let index = try? pool.slotIndex(of: p) else { return failures.record(1) }
                guard owners.at(index).pointee.compareExchange(
                    expected: 0, desired: UInt64(thread + 1), ordering: .acquiringAndReleasing
                ).exchanged else { return failures.record(2) }
                Pattern.write(p, words: words, index: index, owner: thread, generation: generation)
                let box = mailboxes.at((thread &* 7 &+ generation) % mailboxes.count)
                let previous = box.pointee.exchange(UInt64(index + 1), ordering: .acquiringAndReleasing)
                if previous != 0 { receive(previous) }
            }
        }
        for i in 0..<mailboxes.count {
            let boxed = mailboxes.at(i).pointee.exchange(0, ordering: .acquiringAndReleasing)
            if boxed != 0 { receive(boxed) }
        }
        #expect(failures.count == 0, "first failure code \(failures.firstCode)")
        #expect(pool.statistics.inUse == 0)
        let all = try drain(pool)
        #expect(all.count == capacity)
        #expect(Set(all).count == capacity)
    }

    @Test func concurrentBatchAndSingleOperationsAcross8Threads() throws {
        let capacity = 8 * 24
        let pool = try FreeList(configuration: .init(slotSize: 32, capacity: capacity))
        let owners = SharedWords(count: capacity)
        let failures = Failures()
        try PlatformThread.run(count: Self.threads) { thread in
            let buffer = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: 16)
            defer { buffer.deallocate() }
            for round in 0..<150 {
                let count: Int
                if thread % 2 == 0 {
                    do throws(OffHeapError) { count = try pool.allocate(into: buffer) } catch { return failures.record(error) }
                } else {
                    count = 1 + round % 8
                    for k in 0..<count {
                        do throws(OffHeapError) { buffer[k] = try pool.allocate() } catch { return failures.record(error) }
                    }
                }
                if count != 16 && thread % 2 == 0 { return failures.record(3) }
                for k in 0..<count {
                    let index = (try? pool.slotIndex(of: buffer[k])) ?? -1
                    guard index >= 0,
                        owners.at(index).pointee.compareExchange(
                            expected: 0, desired: UInt64(thread + 1), ordering: .acquiringAndReleasing
                        ).exchanged
                    else { return failures.record(2) }
                    Pattern.write(buffer[k], words: 4, index: index, owner: thread, generation: round)
                }
                PlatformThread.yield()
                for k in 0..<count {
                    let index = try! pool.slotIndex(of: buffer[k])
                    if Pattern.validate(buffer[k], words: 4, index: index) != thread { failures.record(1) }
                    owners.at(index).pointee.store(0, ordering: .releasing)
                }
                do throws(OffHeapError) {
                    if thread % 4 == 1 {
                        for k in 0..<count { try pool.deallocate(buffer[k]) }
                    } else {
                        try pool.deallocate(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
                    }
                } catch { failures.record(error) }
            }
        }
        #expect(failures.count == 0, "first failure code \(failures.firstCode)")
        #expect(pool.statistics.inUse == 0)
        #expect(Set(try drain(pool)).count == capacity)
    }

    @Test func concurrentLazyGrowthHandsOutEverySlotOnceAcross8Threads() throws {
        let capacity = 3000
        let pool = try FreeList(
            configuration:
                .init(slotSize: 48, capacity: capacity, slabSize: VirtualMemory.pageSize))
        let owners = SharedWords(count: capacity)
        let counts = SharedWords(count: Self.threads)
        let failures = Failures()
        let held = SharedWords(count: Self.threads * capacity)  // per-thread lists of indices
        try PlatformThread.run(count: Self.threads) { thread in
            var n = 0
            while true {
                let p: UnsafeMutableRawPointer
                do throws(OffHeapError) {
                    p = try pool.allocate()
                } catch .capacityExhausted {
                    break
                } catch { return failures.record(error) }
                let index = try! pool.slotIndex(of: p)
                guard owners.at(index).pointee.compareExchange(
                    expected: 0, desired: UInt64(thread + 1), ordering: .relaxed
                ).exchanged else { return failures.record(2) }
                Pattern.write(p, words: 6, index: index, owner: thread, generation: n)
                held.at(thread * capacity + n).pointee.store(UInt64(index), ordering: .relaxed)
                n += 1
            }
            counts.at(thread).pointee.store(UInt64(n), ordering: .relaxed)
        }
        #expect(failures.count == 0, "first failure code \(failures.firstCode)")
        let total = (0..<Self.threads).reduce(0) { $0 + Int(counts.at($1).pointee.load(ordering: .relaxed)) }
        #expect(total == capacity)
        let stats = pool.statistics
        #expect(stats.slabs == stats.totalSlabs)
        #expect(stats.inUse == capacity)
        #expect(stats.peakInUse == capacity)
        // Every slot kept the pattern its single owner wrote; free them all concurrently.
        try PlatformThread.run(count: Self.threads) { thread in
            let n = Int(counts.at(thread).pointee.load(ordering: .relaxed))
            for k in 0..<n {
                let index = Int(held.at(thread * capacity + k).pointee.load(ordering: .relaxed))
                let p = pool.slot(at: index)!
                if Pattern.validate(p, words: 6, index: index) != thread { failures.record(1) }
                do throws(OffHeapError) { try pool.deallocate(p) } catch { failures.record(error) }
            }
        }
        #expect(failures.count == 0, "first failure code \(failures.firstCode)")
        #expect(pool.statistics.inUse == 0)
    }

    @Test func concurrentDoubleFreeHasExactlyOneWinnerPerSlot() throws {
        let slots = 200
        let pool = try FreeList(configuration: .init(slotSize: 16, capacity: slots))
        let pointers = SharedWords(count: slots)
        for i in 0..<slots {
            pointers.at(i).pointee.store(UInt64(UInt(bitPattern: try pool.allocate())), ordering: .relaxed)
        }
        let wins = SharedWords(count: slots)
        let doubleFrees = SharedWords(count: 1)
        let failures = Failures()
        try PlatformThread.run(count: Self.threads) { thread in
            for k in 0..<slots {
                let i = (k &* 37 &+ thread &* 11) % slots  // different orders per thread
                let p = UnsafeMutableRawPointer(bitPattern: UInt(pointers.at(i).pointee.load(ordering: .relaxed)))!
                do throws(OffHeapError) {
                    try pool.deallocate(p)
                    wins.at(i).pointee.add(1, ordering: .relaxed)
                } catch .doubleFree {
                    doubleFrees.at(0).pointee.add(1, ordering: .relaxed)
                } catch { failures.record(error) }
            }
        }
        #expect(failures.count == 0, "first failure code \(failures.firstCode)")
        for i in 0..<slots { #expect(wins.at(i).pointee.load(ordering: .relaxed) == 1) }
        #expect(Int(doubleFrees.at(0).pointee.load(ordering: .relaxed)) == slots * (Self.threads - 1))
        #expect(pool.statistics.inUse == 0)
        #expect(Set(try drain(pool)).count == slots)
    }

    @Test func concurrentResetRacingWithUseYieldsTypedErrorsNeverCorruption() throws {
        let capacity = 512
        let pool = try FreeList(
            configuration:
                .init(slotSize: 32, capacity: capacity, slabSize: VirtualMemory.pageSize))
        let failures = Failures()
        let rejected = SharedWords(count: 1)
        try PlatformThread.run(count: Self.threads) { thread in
            if thread == 0 {
                var resets = 0
                while resets < 30 {
                    do throws(OffHeapError) {
                        try pool.reset()
                        resets += 1
                    } catch .concurrentReset {
                        rejected.at(0).pointee.add(1, ordering: .relaxed)
                    } catch { return failures.record(error) }
                    PlatformThread.yield()
                }
                return
            }
            for generation in 0..<1500 {
                do throws(OffHeapError) {
                    let slot = try pool.allocateSlot()
                    let index = try pool.slotIndex(of: slot.pointer)
                    Pattern.writeUnchecked(
                        slot.pointer, words: 4, index: index, owner: thread, generation: generation)
                    try pool.deallocate(slot)
                } catch .concurrentReset, .useAfterReset, .doubleFree {
                    // Refusals caused by the racing reset: typed, and the pool stays sound.
                    rejected.at(0).pointee.add(1, ordering: .relaxed)
                } catch { failures.record(error) }
            }
        }
        #expect(failures.count == 0, "first failure code \(failures.firstCode)")
        // Right after the race (no reset in between) the pool is either poisoned (a push
        // overlapped a reset: every operation says so) or its list is duplicate-free.
        if pool.needsReset {
            #expect(throws: OffHeapError.concurrentReset) { _ = try pool.allocate() }
        } else {
            let listed = try drain(pool)
            #expect(Set(listed).count == listed.count)
            #expect(listed.count <= capacity)
        }
        // ...and a quiescent reset makes every slot allocatable again, exactly once.
        try pool.reset()
        let all = try drain(pool)
        #expect(all.count == capacity)
        #expect(Set(all).count == capacity)
    }
}
