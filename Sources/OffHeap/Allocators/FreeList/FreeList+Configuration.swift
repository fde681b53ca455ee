extension FreeList {
    /// How a ``FreeList`` is laid out and how it behaves.
    ///
    /// ```swift
    /// var config = FreeList.Configuration(slotSize: 48, capacity: 10_000)
    /// config.alignment = 16          // slots are 48 bytes apart, 16-byte aligned
    /// config.growth = .lazy          // commit one slab at a time, on demand
    /// config.checking = .checked     // double frees are detected deterministically
    /// let pool = try FreeList(config)
    /// ```
    public struct Configuration: Sendable, Equatable {
        /// Bytes usable in every slot; at least 8. Rounded up to ``alignment``.
        public var slotSize: Int
        /// Alignment of every slot: a power of two, at most the page size.
        public var alignment: Int
        /// How many slots the pool can hold at most (1 ..< 2³² − 2).
        public var capacity: Int
        /// Commit unit in bytes: a multiple of the page size holding at least one slot.
        /// `nil` picks `max(64 KiB, one slot rounded up to pages)`.
        public var slabSize: Int?
        /// When slabs are committed.
        public var growth: Growth
        /// Huge page policy for the slot reservation.
        public var hugePages: VirtualMemory.HugePages
        /// Whether double frees are detected (``Checking/checked``) or skipped for speed.
        public var checking: Checking
        /// Whether ``FreeList/reset()`` gives the slots' physical pages back to the kernel
        /// (`MADV_DONTNEED`; the mapping is kept and reads as zeros afterwards).
        public var decommitOnReset: Bool

        /// Creates a configuration; every parameter sets the property of the same name.
        public init(
            slotSize: Int,
            alignment: Int = 8,
            capacity: Int,
            slabSize: Int? = nil,
            growth: Growth = .lazy,
            hugePages: VirtualMemory.HugePages = .none,
            checking: Checking = .checked,
            decommitOnReset: Bool = false
        ) {
            self.slotSize = slotSize
            self.alignment = alignment
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

    /// How much a ``FreeList`` validates on `deallocate`.
    public enum Checking: Sendable, Equatable {
        /// Range, alignment and interior checks plus a per-slot state byte in an off-heap
        /// side table: a double free throws ``OffHeapError/doubleFree`` and leaves the pool
        /// untouched.
        case checked
        /// Range, alignment and interior checks only. A double free corrupts the free list
        /// (the slot is handed out twice); use for measured hot paths only.
        case unchecked
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
            guard config.slotSize >= 8 else {
                throw .invalidConfiguration(reason: "slotSize must be at least 8 bytes")
            }
            let alignment = config.alignment
            guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= page else {
                throw .invalidAlignment(alignment)
            }
            guard config.capacity >= 1 else {
                throw .invalidConfiguration(reason: "capacity must be at least 1")
            }
            guard config.capacity <= FreeList.maximumCapacity else {
                throw .invalidConfiguration(reason: "capacity must be below 2^32 - 2")
            }
            // 2^46 bytes of slots at most: far below any user address space, and it keeps
            // `offset * reciprocal` exact (see `slotIndex(forOffset:)`).
            let byteLimit = 1 << 46
            guard config.slotSize <= byteLimit / 2 else {
                throw .sizeTooLarge(requested: config.slotSize, limit: byteLimit / 2)
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
