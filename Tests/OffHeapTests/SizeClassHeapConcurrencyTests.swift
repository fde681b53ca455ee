import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

/// Shared words for handing block addresses between test threads.
final class HeapTestWords: @unchecked Sendable {
    // @unchecked Sendable: only accessed through the atomics.
    let words: UnsafeMutablePointer<Atomic<UInt>>
    let count: Int
    init(count: Int) {
        self.count = count
        words = .allocate(capacity: count)
        for index in 0..<count { (words + index).initialize(to: Atomic(0)) }
    }
    deinit { words.deallocate() }
    subscript(index: Int) -> UInt {
        get { words[index].load(ordering: .acquiring) }
        set { words[index].store(newValue, ordering: .releasing) }
    }
}

/// A reusable spinning barrier for `parties` threads.
final class HeapTestBarrier: Sendable {
    let parties: Int
    let arrived = Atomic<Int>(0)
    init(parties: Int) { self.parties = parties }
    func wait(generation: Int) {
        arrived.wrappingAdd(1, ordering: .acquiringAndReleasing)
        while arrived.load(ordering: .acquiring) < parties * (generation + 1) {
            PlatformThread.yield()
        }
    }
}

func heapTestBlockSize(_ round: Int, _ thread: Int, _ index: Int) -> Int {
    let mix = (round &* 7919) ^ (thread &* 104_729) ^ (index &* 1_299_709)
    switch index % 16 {
    case 0: return 4000 + mix % 20000
    default: return 1 + mix % 600
    }
}

/// Lane `lane`'s blocks of round `round`: allocated with their pattern and recorded in
/// `slots[lane * perThread ..< (lane + 1) * perThread]` (0 where an allocation failed, counted).
func heapFillLane(
    _ heap: SizeClassHeap, _ slots: HeapTestWords, lane: Int, perThread: Int, round: Int,
    failures: borrowing Atomic<Int>
) {
    for i in 0..<perThread {
        let size = heapTestBlockSize(round, lane, i)
        guard let block = try? heap.allocate(byteCount: size, alignment: 8) else {
            failures.wrappingAdd(1, ordering: .relaxed)
            slots[lane * perThread + i] = 0
            continue
        }
        heapFillPattern(block, byteCount: size, tag: UInt64(round << 32 | lane << 16 | i))
        slots[lane * perThread + i] = UInt(bitPattern: block)
    }
}

/// Checks the pattern of every block ``heapFillLane`` recorded for `lane` in `round`, frees
/// it and clears its slot; a wrong pattern or a failed free is counted in `failures`.
func heapVerifyAndFreeLane(
    _ heap: SizeClassHeap, _ slots: HeapTestWords, lane: Int, perThread: Int, round: Int,
    failures: borrowing Atomic<Int>
) {
    for i in 0..<perThread {
        guard let block = UnsafeMutableRawPointer(bitPattern: slots[lane * perThread + i]) else {
            continue  // its allocation failed and was counted then
        }
        let size = heapTestBlockSize(round, lane, i)
        if !heapCheckPattern(block, byteCount: size, tag: UInt64(round << 32 | lane << 16 | i)) {
            failures.wrappingAdd(1, ordering: .relaxed)
        }
        if (try? heap.deallocate(block)) == nil {
            failures.wrappingAdd(1, ordering: .relaxed)
        }
        slots[lane * perThread + i] = 0
    }
}

@Suite("SizeClassHeap concurrency")
struct SizeClassHeapConcurrencyTests {
    @Test func concurrentCrossThreadFreesAcross8Threads() throws {
        let heap = try SizeClassHeap()
        let threads = 8, perThread = 256, rounds = 3
        let slots = HeapTestWords(count: threads * perThread)
        let barrier = HeapTestBarrier(parties: threads)
        let failures = Atomic<Int>(0)
        try PlatformThread.run(count: threads) { t in
            var generation = 0
            for round in 0..<rounds {
                heapFillLane(heap, slots, lane: t, perThread: perThread, round: round,
                             failures: failures)
                barrier.wait(generation: generation); generation += 1
                // Free the neighbour's blocks: every free here is remote.
                heapVerifyAndFreeLane(heap, slots, lane: (t + 1) % threads, perThread: perThread,
                                      round: round, failures: failures)
                barrier.wait(generation: generation); generation += 1
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        var stats = heap.statistics
        #expect(stats.remoteFrees == UInt64(threads * perThread * rounds))
        // The workers exited: their pages were abandoned or released; trim collects the rest.
        heap.trim()
        stats = heap.statistics
        #expect(stats.inUseBytes == 0)
        #expect(stats.abandonedPages == 0)
        #expect(stats.committedBytes == 0)
        #expect(stats.mappedSegments == 0)
    }

    /// The free path's owner test compares the page's owner record's thread token (the
    /// address of the thread's TLS table) with the caller's. A thread that exits unmaps its
    /// table, so the next thread often gets the same address, i.e. the same token. Its frees
    /// into the dead thread's pages must still be remote: the pages were abandoned (owner 0)
    /// and the dead record's token cleared. Every free below happens before any thread of
    /// its generation allocates (so before any abandoned page is adopted), so the remote
    /// count is exact; a free wrongly taken as the owner's would lower it (and, pushed on a
    /// page's owner-only list from a non-owner, corrupt contents checked afterwards).
    @Test(arguments: [true, false])
    func concurrentFreesByThreadsReusingAnExitedThreadsTokenStayRemote(checked: Bool) throws {
        let heap = try SizeClassHeap(configuration: .init(checking: checked ? .checked : .unchecked))
        let threads = 8, perThread = 64, generations = 4
        let slots = HeapTestWords(count: threads * perThread)
        let tokens = HeapTestWords(count: threads * generations)
        let failures = Atomic<Int>(0)
        for generation in 0..<generations {
            let barrier = HeapTestBarrier(parties: threads)
            try PlatformThread.run(count: threads) { t in
                // 1. Free (and verify) what lane t - 1 of the previous generation left.
                if generation > 0 {
                    heapVerifyAndFreeLane(heap, slots, lane: (t + threads - 1) % threads,
                                          perThread: perThread, round: generation - 1,
                                          failures: failures)
                }
                barrier.wait(generation: 0)
                // 2. Allocate this generation's blocks and exit holding them.
                heapFillLane(heap, slots, lane: t, perThread: perThread, round: generation,
                             failures: failures)
                tokens[generation * threads + t] = UInt(bitPattern: ThreadLocalSlot.sizeClassHeap.value)
                barrier.wait(generation: 1)
            }
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(heap.statistics.remoteFrees == UInt64(threads * perThread * generation))
        }
        // Whether a token was actually reused depends on where mmap put the tables; the
        // counts above hold either way. Record it for whoever reads a failure.
        var reused = 0
        for g in 1..<generations {
            for t in 0..<threads where tokens[g * threads + t] != 0 {
                for u in 0..<threads where tokens[(g - 1) * threads + u] == tokens[g * threads + t] {
                    reused += 1
                }
            }
        }
        // The last generation's blocks: freed by this thread, which owns none of the pages.
        for index in 0..<(threads * perThread) {
            let t = index / perThread, i = index % perThread
            guard let block = UnsafeMutableRawPointer(bitPattern: slots[index]) else { continue }
            let size = heapTestBlockSize(generations - 1, t, i)
            #expect(heapCheckPattern(block, byteCount: size,
                                     tag: UInt64((generations - 1) << 32 | t << 16 | i)),
                    "tokens reused: \(reused)")
            try heap.deallocate(block)
        }
        heap.trim()
        let stats = heap.statistics
        #expect(stats.inUseBytes == 0, "tokens reused: \(reused)")
        #expect(stats.abandonedPages == 0)
    }

    @Test func concurrentThreadChurnLeavesNothingBehind() throws {
        let heap = try SizeClassHeap()
        let threads = 8, perThread = 128, waves = 3
        // Each wave leaves half its blocks live; the next wave verifies and frees them.
        let slots = HeapTestWords(count: threads * perThread)
        let failures = Atomic<Int>(0)
        for wave in 0..<waves {
            try PlatformThread.run(count: threads) { t in
                for i in stride(from: 1, to: perThread, by: 2) {
                    let address = slots[t * perThread + i]
                    guard let block = UnsafeMutableRawPointer(bitPattern: address) else { continue }
                    let size = heapTestBlockSize(wave - 1, t, i)
                    if !heapCheckPattern(block, byteCount: size,
                                     tag: UInt64((wave - 1) << 32 | t << 16 | i))
                        || (try? heap.deallocate(block)) == nil
                    {
                        failures.wrappingAdd(1, ordering: .relaxed)
                    }
                    slots[t * perThread + i] = 0
                }
                var mine: [UnsafeMutableRawPointer] = []
                for i in 0..<perThread {
                    let size = heapTestBlockSize(wave, t, i)
                    guard let block = try? heap.allocate(byteCount: size, alignment: 8) else {
                        failures.wrappingAdd(1, ordering: .relaxed)
                        continue
                    }
                    heapFillPattern(block, byteCount: size, tag: UInt64(wave << 32 | t << 16 | i))
                    mine.append(block)
                    if i % 2 == 1 { slots[t * perThread + i] = UInt(bitPattern: block) }
                }
                for (i, block) in mine.enumerated() where i % 2 == 0 {
                    if (try? heap.deallocate(block)) == nil {
                        failures.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
            #expect(heap.statistics.abandonedPages > 0)
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        // Free the last wave's survivors from this thread (remote frees into abandoned pages).
        for t in 0..<threads {
            for i in stride(from: 1, to: perThread, by: 2) {
                let block = UnsafeMutableRawPointer(bitPattern: slots[t * perThread + i])!
                #expect(heapCheckPattern(block, byteCount: heapTestBlockSize(waves - 1, t, i),
                                     tag: UInt64((waves - 1) << 32 | t << 16 | i)))
                try heap.deallocate(block)
            }
        }
        heap.trim()
        let stats = heap.statistics
        #expect(stats.inUseBytes == 0)
        #expect(stats.abandonedPages == 0)
        #expect(stats.committedBytes == 0)
        #expect(stats.mappedSegments == 0)
    }

    /// Remote frees land on pages while their owner keeps allocating from them (so the
    /// owner's collect races the pushes), and after the owner has exited (so they race the
    /// abandonment). Producers hand each block through a single-slot mailbox to their
    /// consumer, which checks the producer's pattern and frees it remotely; a block handed
    /// out twice, or a remote free lost or collected twice, shows as a broken pattern,
    /// a failed free or bytes still in use.
    @Test func concurrentRemoteFreesRaceOwnerAllocationAndExit() throws {
        let heap = try SizeClassHeap()
        let pairs = 4, perProducer = 480, lanes = 16
        let mail = HeapTestWords(count: pairs * lanes)
        let failures = Atomic<Int>(0)
        let consumed = Atomic<Int>(0)
        try PlatformThread.run(count: 2 * pairs) { t in
            let pair = t % pairs
            if t < pairs {
                // Producer: also frees every fourth block itself (local frees on the same
                // pages), then exits with blocks still out (its pages are abandoned).
                var keep: UnsafeMutableRawPointer?
                for i in 0..<perProducer {
                    let size = 8 + (i &* 37) % 300
                    guard let block = try? heap.allocate(byteCount: size, alignment: 8) else {
                        failures.wrappingAdd(1, ordering: .relaxed)
                        continue
                    }
                    heapFillPattern(block, byteCount: size, tag: UInt64(pair << 32 | i))
                    if i % 4 == 0 {
                        if let old = keep, (try? heap.deallocate(old)) == nil {
                            failures.wrappingAdd(1, ordering: .relaxed)
                        }
                        keep = block
                        continue
                    }
                    let lane = pair * lanes + i % lanes
                    while mail[lane] != 0 { PlatformThread.yield() }
                    mail[lane] = UInt(bitPattern: block)
                }
                if let keep, (try? heap.deallocate(keep)) == nil {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                return
            }
            // Consumer: the blocks of one producer, in order.
            for i in 0..<perProducer where i % 4 != 0 {
                let lane = pair * lanes + i % lanes
                var address = mail[lane]
                while address == 0 {
                    PlatformThread.yield()
                    address = mail[lane]
                }
                let block = UnsafeMutableRawPointer(bitPattern: address)!
                let size = 8 + (i &* 37) % 300
                if !heapCheckPattern(block, byteCount: size, tag: UInt64(pair << 32 | i)) {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                // Scribble before freeing: a block still in use elsewhere would show it.
                heapFillPattern(block, byteCount: size, tag: ~UInt64(i))
                if (try? heap.deallocate(block)) == nil {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                consumed.wrappingAdd(1, ordering: .relaxed)
                mail[lane] = 0
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(consumed.load(ordering: .relaxed) == pairs * (perProducer - perProducer / 4))
        heap.trim()
        let stats = heap.statistics
        #expect(stats.remoteFrees == UInt64(pairs * (perProducer - perProducer / 4)))
        #expect(stats.inUseBytes == 0)
        #expect(stats.abandonedPages == 0)
        #expect(stats.committedBytes == 0)
        #expect(stats.mappedSegments == 0)
    }

    @Test func abandonedPageIsAdoptedByTheNextThread() throws {
        let heap = try SizeClassHeap()
        let slots = HeapTestWords(count: 10)
        try PlatformThread.run(count: 1) { _ in
            for i in 0..<10 {
                let block = try! heap.allocate(byteCount: 200, alignment: 8)
                heapFillPattern(block, byteCount: 200, tag: UInt64(i))
                slots[i] = UInt(bitPattern: block)
            }
        }
        #expect(heap.statistics.abandonedPages == 1)
        let block = try heap.allocate(byteCount: 200, alignment: 8)
        #expect(heap.statistics.abandonedPages == 0)
        #expect(UInt(bitPattern: block) >> 16 == slots[0] >> 16)  // same page
        for i in 0..<10 {
            let old = UnsafeMutableRawPointer(bitPattern: slots[i])!
            #expect(heapCheckPattern(old, byteCount: 200, tag: UInt64(i)))
            try heap.deallocate(old)  // now local frees: this thread owns the page
        }
        try heap.deallocate(block)
        #expect(heap.statistics.remoteFrees == 0)
        heap.trim()
        #expect(heap.statistics.committedBytes == 0)
    }

    /// 57-bit (LA57) user addresses are covered: the registry indexes the full address, it
    /// never assumes 47 bits or uses spare pointer bits.
    @Test func registryCoversFiftySevenBitAddresses() throws {
        let registry = SegmentRegistry.shared
        let high: UInt = (1 << 56) + (5 << 22)
        #expect(registry.owner(ofSegment: high) == 0)
        try registry.publish(segmentBase: high, heapID: 4242)
        #expect(registry.owner(ofSegment: high + 100) == 4242)
        #expect(registry.owner(ofSegment: high - (1 << 47)) == 0)
        registry.unpublish(segmentBase: high)
        #expect(registry.owner(ofSegment: high) == 0)
        #expect(registry.owner(ofSegment: 1 << 57) == 0)
        #expect(throws: OffHeapError.foreignPointer) {
            try registry.publish(segmentBase: 1 << 58, heapID: 1)
        }
    }

    @Test func concurrentRegistryPublishUnpublish() throws {
        let registry = SegmentRegistry.shared
        let threads = 8, iterations = 2000
        let failures = Atomic<Int>(0)
        let area: UInt = 0x5A00_0000_0000
        try PlatformThread.run(count: threads) { t in
            let id = UInt64(1_000_000 + t)
            for i in 0..<iterations {
                let base = area + UInt(t * 64 + i % 64) << 22
                if (try? registry.publish(segmentBase: base, heapID: id)) == nil {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                if registry.owner(ofSegment: base + 12345) != id {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                // Another thread's range holds either nothing or that thread's id.
                let other = (t + 1) % threads
                let seen = registry.owner(ofSegment: area + UInt(other * 64 + i % 64) << 22)
                if seen != 0 && seen != UInt64(1_000_000 + other) {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
                registry.unpublish(segmentBase: base)
                if registry.owner(ofSegment: base) != 0 {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        for t in 0..<threads * 64 { #expect(registry.owner(ofSegment: area + UInt(t) << 22) == 0) }
    }
}
