import OffHeap

// The only place that names concrete allocator types: wiring a different FreeList, Arena,
// SlabPool, ShardedFreeList or SizeClassHeap into the smoke program means editing the few
// lines below.

/// A variable-size allocator that frees everything at once (`Arena`, `SlabPool`).
protocol SmokeResettableAllocator: VariableSizeAllocator {
    /// Frees every block; later allocations reuse the memory.
    func smokeReset() throws(OffHeapError)
}

enum SmokeAllocators {
    /// A fixed-size allocator of `capacity` slots of `slotSize` bytes.
    static func freeList(slotSize: Int, capacity: Int) throws(OffHeapError) -> FreeList {
        try FreeList(configuration: FreeList.Configuration(slotSize: slotSize, slotAlignment: 16, capacity: capacity))
    }

    /// A fixed-size allocator with per-thread magazines.
    static func shardedFreeList(
        slotSize: Int, capacity: Int, magazineSize: Int
    ) throws(OffHeapError) -> ShardedFreeList {
        try ShardedFreeList(
            configuration: .init(slotSize: slotSize, capacity: capacity, magazineSize: magazineSize))
    }

    /// A general-purpose thread-caching heap (checked: double frees are typed errors).
    static func sizeClassHeap() throws(OffHeapError) -> SizeClassHeap {
        try SizeClassHeap()
    }

    /// A bump arena of `capacity` bytes.
    static func arena(capacity: Int) throws(OffHeapError) -> Arena {
        try Arena(capacity: capacity)
    }

    /// A slab pool of at most `maximumSlabs` slabs of `slabSize` bytes and `maximumLarge`
    /// large (individually mapped) blocks.
    static func slabPool(
        slabSize: Int, maximumSlabs: Int, maximumLarge: Int
    ) throws(OffHeapError) -> SlabPool {
        try SlabPool(
            slabSize: slabSize, maximumSlabs: maximumSlabs, maximumLargeAllocations: maximumLarge)
    }
}

extension Arena: SmokeResettableAllocator {
    func smokeReset() throws(OffHeapError) { try reset() }
}

extension SlabPool: SmokeResettableAllocator {
    func smokeReset() throws(OffHeapError) { try reset() }
}
