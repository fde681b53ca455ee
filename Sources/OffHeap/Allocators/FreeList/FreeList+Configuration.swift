extension FreeList {
    /// How a ``FreeList`` is laid out and how it behaves.
    ///
    /// ```swift
    /// var config = FreeList.Configuration(slotSize: 48, capacity: 10_000)
    /// config.slotAlignment = 64      // slots are 64 bytes apart, 64-byte aligned
    /// config.growth = .lazy          // commit one slab at a time, on demand
    /// config.checking = .checked     // double frees are detected deterministically
    /// let pool = try FreeList(configuration: config)
    /// ```
    public struct Configuration: Sendable, Equatable {
        /// Bytes usable in every slot; at least 8. Rounded up to ``slotAlignment``.
        public var slotSize: Int
        /// Alignment of every slot: a power of two, at most the page size (default 16,
        /// malloc's alignment on x86-64 and aarch64).
        public var slotAlignment: Int
        /// How many slots the pool can hold at most (1 ..< 2³² − 2).
        public var capacity: Int
        /// Commit unit in bytes: a multiple of the page size holding at least one slot.
        /// `nil` picks `max(64 KiB, one slot rounded up to pages)`.
        public var slabSize: Int?
        /// When slabs are committed.
        public var growth: Growth
        /// Huge page policy for the slot reservation.
        public var hugePages: VirtualMemory.HugePages
        /// Whether double frees are detected (``OffHeapChecking/checked``) or skipped for speed.
        public var checking: OffHeapChecking
        /// Whether ``FreeList/reset()`` gives the slots' physical pages back to the kernel
        /// (`MADV_DONTNEED`; the mapping is kept and reads as zeros afterwards).
        public var decommitOnReset: Bool

        /// Creates a configuration; every parameter sets the property of the same name.
        public init(
            slotSize: Int,
            slotAlignment: Int = 16,
            capacity: Int,
            slabSize: Int? = nil,
            growth: Growth = .lazy,
            hugePages: VirtualMemory.HugePages = .none,
            checking: OffHeapChecking = .checked,
            decommitOnReset: Bool = false
        ) {
            self.slotSize = slotSize
            self.slotAlignment = slotAlignment
            self.capacity = capacity
            self.slabSize = slabSize
            self.growth = growth
            self.hugePages = hugePages
            self.checking = checking
            self.decommitOnReset = decommitOnReset
        }
    }

    /// When a ``FreeList`` commits its slabs.
    public enum Growth: Sendable, Equatable {
        /// Commit slabs one at a time, in address order, when the free list runs empty.
        case lazy
        /// Commit every slab at init; with `populate`, pre-fault every page too.
        case preallocate(populate: Bool)
    }

    /// The largest capacity: two index values are reserved (empty and reset-locked).
    public static let maximumCapacity = Int(Head.lockedIndex) - 1

    /// The derived, validated geometry of a pool.
    @usableFromInline
    internal struct Geometry: Sendable {
        @usableFromInline let stride: Int
        @usableFromInline let alignment: Int
        @usableFromInline let capacity: Int
        @usableFromInline let slabSize: Int
        @usableFromInline let slabCount: Int
        /// `capacity * stride` rounded up to whole pages: the slot reservation.
        @usableFromInline let reservedBytes: Int
        /// Bytes of the metadata mapping: control block + links + slot states.
        @usableFromInline let metadataBytes: Int
        @usableFromInline let linksOffset: Int
        @usableFromInline let statesOffset: Int

        init(_ config: Configuration) throws(OffHeapError) {
            let page = VirtualMemory.pageSize
            // 2^46 bytes of slots at most: far below any user address space, and it keeps
            // `offset * reciprocal` exact (see `slotIndex(forOffset:)`).
            let byteLimit = 1 << 46
            // Sizes as every allocator reports them (the table at `OffHeapError`).
            guard config.slotSize != 0 else { throw .zeroSize }
            guard config.slotSize > 0, config.slotSize <= byteLimit / 2 else {
                throw .sizeTooLarge(requested: config.slotSize, limit: byteLimit / 2)
            }
            guard config.slotSize >= 8 else {
                throw .invalidConfiguration(reason: "slotSize must be at least 8 bytes")
            }
            let alignment = config.slotAlignment
            guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= page else {
                throw .invalidAlignment(alignment)
            }
            guard config.capacity >= 1 else {
                throw .invalidConfiguration(reason: "capacity must be at least 1")
            }
            guard config.capacity <= FreeList.maximumCapacity else {
                throw .invalidConfiguration(reason: "capacity must be below 2^32 - 2")
            }
            let stride = VirtualMemory.roundUp(config.slotSize, to: alignment)
            let (total, overflow) = config.capacity.multipliedReportingOverflow(by: stride)
            guard !overflow, total <= byteLimit else {
                throw .sizeTooLarge(requested: overflow ? Int.max : total, limit: byteLimit)
            }
            let reserved = VirtualMemory.roundUp(total, to: page)
            let slab = config.slabSize ?? max(64 << 10, VirtualMemory.roundUp(stride, to: page))
            guard slab > 0, slab % page == 0 else {
                throw .invalidConfiguration(reason: "slabSize must be a multiple of the page size")
            }
            guard slab >= stride else {
                throw .invalidConfiguration(reason: "slabSize must hold at least one slot")
            }
            self.stride = stride
            self.alignment = alignment
            self.capacity = config.capacity
            self.slabSize = min(slab, reserved)
            self.slabCount = (reserved + self.slabSize - 1) / self.slabSize
            self.reservedBytes = reserved
            self.linksOffset = page
            self.statesOffset = page + VirtualMemory.roundUp(config.capacity * 8, to: page)
            self.metadataBytes = statesOffset + VirtualMemory.roundUp(config.capacity, to: page)
        }

        /// Slots fully inside the first `slabs` slabs.
        @inlinable
        func slots(inFirst slabs: Int) -> Int {
            min(capacity, min(slabs * slabSize, reservedBytes) / stride)
        }
    }
}
