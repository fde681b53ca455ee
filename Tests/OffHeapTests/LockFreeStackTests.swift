import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

@Suite("LockFreeStack")
struct LockFreeStackTests {
    @Test func pushPopIsLastInFirstOut() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 256))
        let stack = try LockFreeStack<UInt64, FreeList>(
            pool: pool)
        #expect(stack.isEmpty)
        for value in 1...100 as ClosedRange<UInt64> { try stack.push(value * 3) }
        for value in (1...100 as ClosedRange<UInt64>).reversed() {
            #expect(try stack.pop() == value * 3)
        }
        #expect(try stack.pop() == nil)
        try stack.domain.destroy()
        #expect(pool.statistics.inUse == 0, "every popped node went back to the pool")
    }

    @Test func structElementsRoundTrip() throws {
        struct Pair: BitwiseCopyable, Equatable { var a: Int32; var b: Double }
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8))
        let stack = try LockFreeStack<Pair, FreeList>(pool: pool)
        try stack.push(Pair(a: -4, b: 2.5))
        #expect(try stack.pop() == Pair(a: -4, b: 2.5))
    }

    @Test func badPoolAndExhaustionAreTypedErrors() throws {
        let small = try FreeList(configuration: .init(slotSize: 16, slotAlignment: 16, capacity: 8))
        #expect(throws: OffHeapError.self) {
            _ = try LockFreeStack<UInt64, FreeList>(pool: small)
        }
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 4))
        let stack = try LockFreeStack<UInt64, FreeList>(pool: pool)
        for value in 0..<4 as Range<UInt64> { try stack.push(value) }
        #expect(throws: OffHeapError.capacityExhausted(capacity: 4)) { try stack.push(9) }
        #expect(try stack.pop() == 3)
        // The popped node is pending in the domain; push flushes and gets it back.
        try stack.push(10)
        #expect(try stack.pop() == 10)
    }

    @Test func destroyedDomainIsATypedError() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8))
        let stack = try LockFreeStack<UInt64, FreeList>(pool: pool)
        try stack.push(1)
        try stack.domain.destroy()
        #expect(throws: OffHeapError.destroyed) { _ = try stack.pop() }
    }

    /// The stack's storage returns the nodes still on the stack when the stack goes, and
    /// destroys only a domain the stack created.
    @Test func droppingAStackReturnsItsNodesAndDestroysOnlyItsOwnDomain() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 64))
        do {
            let own = try LockFreeStack<UInt64, FreeList>(pool: pool)
            for value in 0..<10 as Range<UInt64> { try own.push(value) }
            for _ in 0..<3 { _ = try own.pop() }
        }
        #expect(pool.statistics.inUse == 0, "7 nodes on the stack, 3 retired into its own domain")
        let domain = try HyalineDomain(configuration: .init(recordCapacity: 4096))
        do {
            let shared = try LockFreeStack<UInt64, FreeList>(pool: pool, domain: domain)
            for value in 0..<10 as Range<UInt64> { try shared.push(value) }
            for _ in 0..<3 { _ = try shared.pop() }
        }
        #expect(pool.statistics.inUse <= 3, "the 7 nodes on the stack went back")
        try domain.destroy()  // throws .destroyed if the stack had destroyed the shared domain
        #expect(pool.statistics.inUse == 0)
    }

    /// 8 threads push distinct values and pop; every value comes out exactly once.
    @Test func concurrentPushPopAcross8Threads() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8192))
        let stack = try LockFreeStack<UInt64, FreeList>(
            pool: pool)
        try pushPopConcurrentlyAndCheck(stack, threads: 8, perThread: 1200, keepEvery: 4)
        try stack.domain.destroy()
        #expect(pool.statistics.inUse == 0)
    }

    /// The same conservation check with nodes from a ShardedFreeList (thread caches).
    @Test func concurrentPushPopOnShardedFreeListAcross8Threads() throws {
        let pool = try ShardedFreeList(
            configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 8192))
        let stack = try LockFreeStack<UInt64, ShardedFreeList>(pool: pool)
        try pushPopConcurrentlyAndCheck(stack, threads: 8, perThread: 800, keepEvery: 3)
    }

    /// The benchmark baseline's lock: 8 threads increment a plain counter under it.
    @Test func concurrentPlatformMutexCounterAcross8Threads() throws {
        final class Counter: @unchecked Sendable {
            // @unchecked Sendable: `value` is only touched with `mutex` held.
            let mutex: PlatformMutex
            var value = 0
            init() throws { mutex = try PlatformMutex() }
        }
        let counter = try Counter()
        try PlatformThread.run(count: 8) { _ in
            for _ in 0..<2000 { counter.mutex.withLock { counter.value += 1 } }
        }
        #expect(counter.mutex.withLock { counter.value } == 16_000)
    }
}
