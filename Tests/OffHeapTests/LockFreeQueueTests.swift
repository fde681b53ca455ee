import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

@Suite("LockFreeQueue")
struct LockFreeQueueTests {
    @Test func enqueueDequeueIsFirstInFirstOut() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 256))
        let queue = try LockFreeQueue<UInt64, FreeList>(
            pool: pool)
        #expect(try queue.isEmpty)
        for value in 1...100 as ClosedRange<UInt64> { try queue.enqueue(value * 5) }
        #expect(try !queue.isEmpty)
        for value in 1...100 as ClosedRange<UInt64> { #expect(try queue.dequeue() == value * 5) }
        #expect(try queue.dequeue() == nil)
        try queue.domain.destroy()
        #expect(pool.statistics.inUse == 1, "only the dummy node remains")
    }

    @Test func badPoolAndDestroyedDomainAreTypedErrors() throws {
        let small = try FreeList(configuration: .init(slotSize: 16, slotAlignment: 16, capacity: 8))
        #expect(throws: OffHeapError.self) {
            _ = try LockFreeQueue<UInt64, FreeList>(pool: small)
        }
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 4))
        let queue = try LockFreeQueue<UInt64, FreeList>(pool: pool)
        for value in 1...3 as ClosedRange<UInt64> { try queue.enqueue(value) }
        #expect(throws: OffHeapError.capacityExhausted(capacity: 4)) { try queue.enqueue(4) }
        #expect(try queue.dequeue() == 1)
        try queue.enqueue(4)  // flushes the retired dummy and reuses it
        #expect(try queue.dequeue() == 2)
        try queue.domain.destroy()
        #expect(pool.statistics.inUse == 3, "destroy reclaimed the retired node")
        #expect(throws: OffHeapError.destroyed) { _ = try queue.dequeue() }
        #expect(throws: OffHeapError.destroyed) { try queue.enqueue(5) }
        #expect(pool.statistics.inUse == 3, "a failed enqueue returns its node")
    }

    /// The queue's storage returns its dummy and the nodes still queued when the queue goes;
    /// a queue whose dummy cannot be allocated is a typed error and leaves the pool usable.
    @Test func droppingAQueueReturnsItsNodesAndAFailedInitLeavesThePoolUsable() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 64))
        do {
            let queue = try LockFreeQueue<UInt64, FreeList>(pool: pool)
            for value in 0..<10 as Range<UInt64> { try queue.enqueue(value) }
            for _ in 0..<3 { _ = try queue.dequeue() }
            #expect(pool.statistics.inUse == 11)
        }
        #expect(pool.statistics.inUse == 0, "dummy + 7 queued nodes, 3 retired into its own domain")
        var held: [UnsafeMutableRawPointer] = []
        while let slot = try? pool.allocate() { held.append(slot) }
        #expect(throws: OffHeapError.capacityExhausted(capacity: 64)) {
            _ = try LockFreeQueue<UInt64, FreeList>(pool: pool)
        }
        for slot in held { try pool.deallocate(slot) }
        let queue = try LockFreeQueue<UInt64, FreeList>(pool: pool)
        try queue.enqueue(1)
        #expect(try queue.dequeue() == 1)
    }

    /// 4 producers and 4 consumers: every value arrives exactly once, and each consumer
    /// sees each producer's values in the order they were enqueued.
    @Test func concurrentProducersConsumersAcross8Threads() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8192))
        let queue = try LockFreeQueue<UInt64, FreeList>(
            pool: pool)
        try produceConsumeConcurrentlyAndCheck(queue, producers: 4, perProducer: 1500)
        #expect(try queue.dequeue() == nil)
        try queue.domain.destroy()
        #expect(pool.statistics.inUse == 1)
    }

    /// FIFO order and conservation with nodes from a ShardedFreeList.
    @Test func concurrentQueueOnShardedFreeListAcross8Threads() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8192))
        let queue = try LockFreeQueue<UInt64, ShardedFreeList>(pool: pool)
        try produceConsumeConcurrentlyAndCheck(
            queue, producers: 4, perProducer: 800, retryExhausted: false)
    }
}
