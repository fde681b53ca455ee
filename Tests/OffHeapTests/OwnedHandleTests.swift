import OffHeap
import Testing

/// Owned `~Copyable` handles of ``ShardedFreeList`` and ``SizeClassHeap``: deallocating one
/// really frees its memory (a raw free of the same address afterwards is a double free), and
/// every slot can be taken and returned through handles. A second free of a handle does not
/// compile (checked with swiftc against the README example, see the item-5 commit).
@Suite("Owned handles")
struct OwnedHandleTests {
    @Test func shardedSlotHandleFreesItsSlot() throws {
        let pool = try ShardedFreeList(configuration: .init(slotSize: 32, capacity: 8))
        let slot = try pool.allocateSlot()
        #expect(pool.contains(slot.pointer))
        #expect(Int(bitPattern: slot.pointer) % pool.slotAlignment == 0)
        slot.pointer.storeBytes(of: 0xFEED, as: UInt64.self)
        let address = slot.pointer
        try pool.deallocate(slot)
        #expect(throws: OffHeapError.doubleFree) { try pool.deallocate(address) }

        // Every slot through handles (held at once, one per recursion level), twice: the
        // ninth request fails and the frees give all eight back.
        pool.flushCallingThreadCache()
        func holdAll(_ depth: Int) throws {
            if depth == pool.capacity {
                #expect(throws: OffHeapError.self) { _ = try pool.allocateSlot() }
                return
            }
            let handle = try pool.allocateSlot()
            try holdAll(depth + 1)
            try pool.deallocate(handle)
        }
        try holdAll(0)
        try holdAll(0)
    }

    @Test func heapBlockHandleFreesItsBlock() throws {
        let heap = try SizeClassHeap()
        let block = try heap.allocateBlock(byteCount: 100)
        #expect(block.byteCount == 100)
        #expect(Int(bitPattern: block.pointer) % 16 == 0)
        #expect(try heap.usableSize(of: block.pointer) >= 100)
        let before = heap.statistics.inUseBytes
        let address = block.pointer
        try heap.deallocate(block)
        #expect(heap.statistics.inUseBytes < before)
        #expect(throws: OffHeapError.doubleFree) { try heap.deallocate(address) }

        let big = try heap.allocateBlock(byteCount: 1 << 20, alignment: 64)
        #expect(Int(bitPattern: big.pointer) % 64 == 0)
        try heap.deallocate(big)
    }
}
