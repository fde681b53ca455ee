/// A mapping with exactly one owner, unmapped when that owner ends.
///
/// ``VirtualRegion`` is a copyable description of a mapping, so whoever holds one must
/// remember to unmap it, once, on every path (init error paths included). An
/// `OwnedRegion` cannot be copied: it is moved into the object that keeps it, and its
/// `deinit` unmaps when that object (or a throwing initialiser that never finished) lets it
/// go — swift-collections' `RigidArray` owns its buffer the same way.
///
/// ```swift
/// let table = try OwnedRegion(byteCount: 4096, committed: true)
/// let slots = try OwnedRegion(byteCount: 1 << 20)   // throws: `table` is unmapped
/// ```
@usableFromInline
internal struct OwnedRegion: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the region's memory is shared by design; the owner decides who
    // may touch it, and only this value's end unmaps it.
    @usableFromInline internal let region: VirtualRegion

    /// Reserves a region (see ``VirtualMemory/reserve(byteCount:alignment:committed:hugePages:populate:)``).
    internal init(
        byteCount: Int, alignment: Int = 0, committed: Bool = false,
        hugePages: VirtualMemory.HugePages = .none, populate: Bool = false
    ) throws(OffHeapError) {
        region = try VirtualMemory.reserve(
            byteCount: byteCount, alignment: alignment, committed: committed,
            hugePages: hugePages, populate: populate)
    }

    deinit {
        // An unmap of a range this value mapped can fail only on a corrupted address;
        // there is no caller left to tell.
        try? VirtualMemory.release(region)
    }

    @inlinable @inline(__always) internal var base: UnsafeMutableRawPointer { region.base }
    @inlinable @inline(__always) internal var byteCount: Int { region.byteCount }
    @inlinable @inline(__always) internal var hugeTLB: Bool { region.hugeTLB }

    /// Whether `pointer` lies inside the region.
    @inlinable @inline(__always)
    internal func contains(_ pointer: UnsafeRawPointer) -> Bool { region.contains(pointer) }
}
