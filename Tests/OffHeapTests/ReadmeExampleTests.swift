import OffHeap
import Testing

/// The README's example, compiled and run so it cannot drift from the API.
@Suite("README example")
struct ReadmeExampleTests {
    @Test func exampleRunsAsDocumented() throws {
        let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 1 << 20))

        let slot = try pool.allocate()
        slot.storeBytes(of: 42, as: UInt64.self)
        try pool.deallocate(slot)

        var reported = false
        do {
            try pool.deallocate(slot)
        } catch .doubleFree {
            reported = true
        }
        #expect(reported)
        #expect(pool.statistics.inUse == 0)

        let handle = try pool.allocateSlot()
        try pool.deallocate(handle)

        let cached = try ShardedFreeList(configuration: .init(slotSize: 64, capacity: 1 << 16))
        let p = try cached.allocate()
        try cached.deallocate(p)

        let heap = try SizeClassHeap()
        let block = try heap.allocate(byteCount: 300, alignment: 16)
        #expect(Int(bitPattern: block) % 16 == 0)
        #expect(try heap.usableSize(of: block) >= 300)
        try heap.deallocate(block)
        heap.trim()

        let cachedSlot = try cached.allocateSlot()
        try cached.deallocate(cachedSlot)
        let owned = try heap.allocateBlock(byteCount: 64)
        try heap.deallocate(owned)

        let nodes = try ShardedFreeList(configuration: .init(slotSize: 32, capacity: 4096))
        let stack = try LockFreeStack<Int, ShardedFreeList>(pool: nodes)
        try stack.push(7)
        let top = try stack.pop()
        #expect(top == 7)
        #expect(try stack.pop() == nil)
    }
}
