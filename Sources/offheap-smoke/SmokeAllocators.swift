import OffHeap

// The only place that names concrete allocator types: wiring a different FreeList, Arena or
// SlabPool into the smoke program means editing the few lines below.

/// A variable-size allocator that frees everything at once (an arena).
protocol SmokeResettableAllocator: VariableSizeAllocator {
    /// Frees every block; later allocations reuse the memory.
    func smokeReset() throws(OffHeapError)
}

enum SmokeAllocators {
    /// A fixed-size allocator of `capacity` slots of `slotSize` bytes.
    static func freeList(slotSize: Int, capacity: Int) throws(OffHeapError) -> StandInSlotPool {
        try StandInSlotPool(slotSize: slotSize, alignment: 16, capacity: capacity)
    }

    /// A bump arena of `capacity` bytes.
    static func arena(capacity: Int) throws(OffHeapError) -> StandInArena {
        try StandInArena(capacity: capacity)
    }

    /// A slab pool for blocks up to 1 KiB with room for about `blocksPerClass` blocks per size
    /// class.
    static func slabPool(blocksPerClass: Int) throws(OffHeapError) -> StandInSlabPool {
        try StandInSlabPool(blocksPerClass: blocksPerClass)
    }
}

extension StandInArena: SmokeResettableAllocator {
    func smokeReset() throws(OffHeapError) { reset() }
}
