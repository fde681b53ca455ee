import OffHeap
import Synchronization
import Testing

@Suite("LockFreeQueue")
struct LockFreeQueueTests {
    @Test func enqueueDequeueIsFirstInFirstOut() throws {
        let pool = try FreeList(.init(slotSize: 32, alignment: 16, capacity: 256))
        let queue = try LockFreeQueue<UInt64, FreeList>(
            pool: pool, capacity: 256, owns: { pool.contains($0) })
        #expect(try queue.isEmpty())
        for value in 1...100 as ClosedRange<UInt64> { try queue.enqueue(value * 5) }
        #expect(try !queue.isEmpty())
        for value in 1...100 as ClosedRange<UInt64> { #expect(try queue.dequeue() == value * 5) }
        #expect(try queue.dequeue() == nil)
        try queue.domain.destroy()
        #expect(pool.stats.inUse == 1, "only the dummy node remains")
    }

    @Test func badPoolAndDestroyedDomainAreTypedErrors() throws {
        let small = try FreeList(.init(slotSize: 16, alignment: 16, capacity: 8))
        #expect(throws: OffHeapError.self) {
            _ = try LockFreeQueue<UInt64, FreeList>(pool: small, capacity: 8)
        }
        let pool = try FreeList(.init(slotSize: 32, alignment: 16, capacity: 4))
        let queue = try LockFreeQueue<UInt64, FreeList>(pool: pool, capacity: 4)
        for value in 1...3 as ClosedRange<UInt64> { try queue.enqueue(value) }
        #expect(throws: OffHeapError.exhausted) { try queue.enqueue(4) }
        #expect(try queue.dequeue() == 1)
        try queue.enqueue(4)  // flushes the retired dummy and reuses it
        #expect(try queue.dequeue() == 2)
        try queue.domain.destroy()
        #expect(pool.stats.inUse == 3, "destroy reclaimed the retired node")
        #expect(throws: OffHeapError.destroyed) { _ = try queue.dequeue() }
        #expect(throws: OffHeapError.destroyed) { try queue.enqueue(5) }
        #expect(pool.stats.inUse == 3, "a failed enqueue returns its node")
    }

    /// 4 producers and 4 consumers: every value arrives exactly once, and each consumer
    /// sees each producer's values in the order they were enqueued.
    @Test func concurrentProducersConsumersAcross8Threads() throws {
        let producers = 4
        let perProducer = 1500
        let pool = try FreeList(.init(slotSize: 32, alignment: 16, capacity: 8192))
        let queue = try LockFreeQueue<UInt64, FreeList>(
            pool: pool, capacity: 8192, owns: { pool.contains($0) })
        let results = ThreadRows<UInt64>(threads: 2 * producers, rowsPerThread: producers * perProducer)
        let consumed = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let total = producers * perProducer
        try PlatformThread.run(count: 2 * producers) { worker in
            if worker < producers {
                for index in 0..<perProducer {
                    while true {
                        do throws(OffHeapError) {
                            try queue.enqueue(UInt64(worker) << 32 | UInt64(index))
                            break
                        } catch .exhausted {
                            PlatformThread.yield()
                        } catch {
                            failures.add(1, ordering: .relaxed)
                            return
                        }
                    }
                }
            } else {
                while consumed.load(ordering: .relaxed) < total {
                    do {
                        if let value = try queue.dequeue() {
                            results.append(thread: worker, value)
                            consumed.add(1, ordering: .relaxed)
                        } else {
                            PlatformThread.yield()
                        }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        for consumer in producers..<(2 * producers) {
            var last = [Int](repeating: -1, count: producers)
            var ordered = true
            for value in results.row(consumer) {
                let producer = Int(value >> 32)
                let index = Int(value & 0xFFFF_FFFF)
                if index <= last[producer] { ordered = false }
                last[producer] = index
            }
            #expect(ordered, "consumer \(consumer) saw a producer's values out of order")
        }
        let seen = results.all.sorted()
        let expected = (0..<producers).flatMap { producer in
            (0..<perProducer).map { UInt64(producer) << 32 | UInt64($0) }
        }.sorted()
        #expect(seen == expected, "every enqueued value dequeued exactly once")
        #expect(try queue.dequeue() == nil)
        try queue.domain.destroy()
        #expect(pool.stats.inUse == 1)
    }

    /// FIFO order and conservation with nodes from a ShardedFreeList.
    @Test func concurrentQueueOnShardedFreeListAcross8Threads() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8192))
        let queue = try LockFreeQueue<UInt64, ShardedFreeList>(pool: pool, capacity: 8192)
        let results = ThreadRows<UInt64>(threads: 8, rowsPerThread: 4 * 800)
        let consumed = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        try PlatformThread.run(count: 8) { worker in
            if worker < 4 {
                for index in 0..<800 {
                    do { try queue.enqueue(UInt64(worker) << 32 | UInt64(index)) } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            } else {
                while consumed.load(ordering: .relaxed) < 3200
                    && failures.load(ordering: .relaxed) == 0
                {
                    do {
                        if let value = try queue.dequeue() {
                            results.append(thread: worker, value)
                            consumed.add(1, ordering: .relaxed)
                        } else {
                            PlatformThread.yield()
                        }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        for consumer in 4..<8 {
            var last = [Int](repeating: -1, count: 4)
            var ordered = true
            for value in results.row(consumer) {
                if Int(value & 0xFFFF_FFFF) <= last[Int(value >> 32)] { ordered = false }
                last[Int(value >> 32)] = Int(value & 0xFFFF_FFFF)
            }
            #expect(ordered)
        }
        let expected = (0..<4).flatMap { p in (0..<800).map { UInt64(p) << 32 | UInt64($0) } }
        #expect(results.all.sorted() == expected.sorted())
    }
}
