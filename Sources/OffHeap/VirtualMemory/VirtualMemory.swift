import COffHeapShims

/// Reserve, commit, decommit and release address space straight from the kernel.
///
/// Every byte the allocators hand out comes from here: anonymous private mappings, never
/// malloc. A *reservation* claims address space without backing memory (`PROT_NONE`,
/// `MAP_NORESERVE`); *commit* makes a range readable and writable (pages are faulted in on
/// first touch); *decommit* returns a range's physical pages to the kernel but keeps the
/// addresses; *release* unmaps.
///
/// ```swift
/// let region = try VirtualMemory.reserve(byteCount: 4 << 20, alignment: 4 << 20)
/// try VirtualMemory.commit(region.base, byteCount: 64 << 10)
/// region.base.storeBytes(of: 42, as: Int.self)
/// try VirtualMemory.decommit(region.base, byteCount: 64 << 10, mode: .free)
/// try VirtualMemory.release(region)
/// ```
///
/// Failures are ``OffHeapError/mappingFailed(errno:)``; nothing here traps.
public enum VirtualMemory {
    /// The base page size (`sysconf(_SC_PAGESIZE)`): 4 KiB on x86-64, 4/16/64 KiB on aarch64.
    public static let pageSize: Int = {
        let size = offheap_page_size()
        return size > 0 ? Int(size) : 4096
    }()

    /// The transparent huge page size the kernel reports, or `nil` when THP is unavailable.
    public static let hugePageSize: Int? = {
        var buffer = InlineArray<64, UInt8>(repeating: 0)
        var span = buffer.mutableSpan
        let count = span.withUnsafeMutableBytes { bytes in
            offheap_read_file(
                "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", bytes.baseAddress!,
                bytes.count)
        }
        guard count > 0 else { return nil }
        var value = 0
        for index in 0..<Int(count) {
            let byte = buffer[index]
            guard byte >= 48 && byte <= 57 else { break }
            value = value * 10 + Int(byte - 48)
        }
        return value > 0 ? value : nil
    }()

    /// How a reservation may use huge pages.
    public enum HugePages: Sendable, Equatable {
        /// Base pages only.
        case none
        /// Ask for transparent huge pages (`MADV_HUGEPAGE`); a hint the kernel may ignore.
        case transparent
        /// Try `MAP_HUGETLB` first (needs reserved huge pages, `vm.nr_hugepages`); when that
        /// mapping fails, fall back to `.transparent`.
        case explicit
    }

    /// How decommitted pages are given back.
    public enum DecommitMode: Sendable, Equatable {
        /// `MADV_DONTNEED`: pages are dropped now; the next touch reads zeros.
        case dontNeed
        /// `MADV_FREE`: the kernel reclaims the pages lazily, under memory pressure; until
        /// then the old contents may still be read. Cheaper when the range is reused soon.
        case free
    }

    /// Reserves `byteCount` bytes (rounded up to whole pages) at an address that is a
    /// multiple of `alignment`.
    ///
    /// - Parameters:
    ///   - byteCount: bytes to reserve, > 0.
    ///   - alignment: a power of two; at least the page size is always given.
    ///   - committed: map the range readable and writable at once (still backed lazily).
    ///   - hugePages: huge page policy for the range.
    ///   - populate: pre-fault the pages now (`MAP_POPULATE`); implies `committed`.
    /// - Throws: ``OffHeapError/invalidAlignment(_:)``, ``OffHeapError/zeroSize``,
    ///   ``OffHeapError/sizeTooLarge(requested:limit:)``, ``OffHeapError/mappingFailed(errno:)``.
    public static func reserve(
        byteCount: Int,
        alignment: Int = 0,
        committed: Bool = false,
        hugePages: HugePages = .none,
        populate: Bool = false
    ) throws(OffHeapError) -> VirtualRegion {
        guard byteCount > 0 else { throw .zeroSize }
        let alignment = max(alignment, pageSize)
        guard alignment & (alignment - 1) == 0 else { throw .invalidAlignment(alignment) }
        let limit = 1 << 56
        guard byteCount <= limit, alignment <= limit else {
            throw .sizeTooLarge(requested: byteCount, limit: limit)
        }
        let size = roundUp(byteCount, to: pageSize)
        let protection = committed || populate ? OFFHEAP_PROT_READ_WRITE : OFFHEAP_PROT_NONE
        var flags = Int32(OFFHEAP_MAP_NORESERVE)
        if populate { flags |= Int32(OFFHEAP_MAP_POPULATE) }

        if hugePages == .explicit, let huge = hugePageSize {
            let hugeSize = roundUp(size, to: huge)
            if alignment <= huge,
                // No MAP_NORESERVE here: without a reservation a hugetlb mapping succeeds
                // even when no huge pages are free and the first touch dies with SIGBUS.
                let base = offheap_mmap_anonymous(
                    nil, hugeSize, OFFHEAP_PROT_READ_WRITE,
                    (flags & ~Int32(OFFHEAP_MAP_NORESERVE)) | Int32(OFFHEAP_MAP_HUGETLB))
            {
                return VirtualRegion(base: base, byteCount: hugeSize, hugeTLB: true)
            }
        }

        let region: VirtualRegion
        if alignment <= pageSize {
            guard let base = offheap_mmap_anonymous(nil, size, protection, flags) else {
                throw .mappingFailed(errno: offheap_errno())
            }
            region = VirtualRegion(base: base, byteCount: size, hugeTLB: false)
        } else {
            // Over-reserve by `alignment`, then trim the unaligned head and the tail.
            let (padded, overflow) = size.addingReportingOverflow(alignment)
            guard !overflow else { throw .sizeTooLarge(requested: byteCount, limit: limit) }
            guard let raw = offheap_mmap_anonymous(nil, padded, protection, flags) else {
                throw .mappingFailed(errno: offheap_errno())
            }
            let address = UInt(bitPattern: raw)
            let aligned = (address + UInt(alignment - 1)) & ~UInt(alignment - 1)
            let head = Int(aligned - address)
            let tail = padded - head - size
            if head > 0 { offheap_munmap(raw, head) }
            if tail > 0 { offheap_munmap(raw + head + size, tail) }
            region = VirtualRegion(base: raw + head, byteCount: size, hugeTLB: false)
        }
        if hugePages != .none {
            // A hint: failure (no THP support) leaves base pages, which is correct.
            _ = offheap_madvise(region.base, region.byteCount, Int32(OFFHEAP_MADV_HUGEPAGE))
        }
        return region
    }

    /// Makes `byteCount` bytes at `address` readable and writable. Both must be page-aligned.
    public static func commit(
        _ address: UnsafeMutableRawPointer, byteCount: Int
    ) throws(OffHeapError) {
        try checkPageRange(address, byteCount)
        if offheap_mprotect(address, byteCount, OFFHEAP_PROT_READ_WRITE) != 0 {
            throw .mappingFailed(errno: offheap_errno())
        }
    }

    /// Gives the physical pages behind a committed range back to the kernel. The range stays
    /// readable and writable; see ``DecommitMode`` for what a later read sees.
    public static func decommit(
        _ address: UnsafeMutableRawPointer, byteCount: Int, mode: DecommitMode = .dontNeed
    ) throws(OffHeapError) {
        try checkPageRange(address, byteCount)
        let advice = mode == .free ? OFFHEAP_MADV_FREE : OFFHEAP_MADV_DONTNEED
        if offheap_madvise(address, byteCount, Int32(advice)) != 0 {
            // MADV_FREE needs Linux 4.5; fall back to DONTNEED rather than fail.
            if mode == .free,
                offheap_madvise(address, byteCount, Int32(OFFHEAP_MADV_DONTNEED)) == 0
            {
                return
            }
            throw .mappingFailed(errno: offheap_errno())
        }
    }

    /// Makes a committed range inaccessible again and drops its pages (`PROT_NONE`).
    public static func uncommit(
        _ address: UnsafeMutableRawPointer, byteCount: Int
    ) throws(OffHeapError) {
        try decommit(address, byteCount: byteCount, mode: .dontNeed)
        if offheap_mprotect(address, byteCount, OFFHEAP_PROT_NONE) != 0 {
            throw .mappingFailed(errno: offheap_errno())
        }
    }

    /// Unmaps a whole region.
    public static func release(_ region: VirtualRegion) throws(OffHeapError) {
        try release(region.base, byteCount: region.byteCount)
    }

    /// Unmaps `byteCount` bytes at `address` (page-aligned).
    public static func release(
        _ address: UnsafeMutableRawPointer, byteCount: Int
    ) throws(OffHeapError) {
        try checkPageRange(address, byteCount)
        if offheap_munmap(address, byteCount) != 0 {
            throw .mappingFailed(errno: offheap_errno())
        }
    }

    /// `value` rounded up to a multiple of `alignment` (a power of two).
    @inlinable @inline(__always)
    public static func roundUp(_ value: Int, to alignment: Int) -> Int {
        (value + alignment - 1) & ~(alignment - 1)
    }

    @usableFromInline
    internal static func checkPageRange(
        _ address: UnsafeMutableRawPointer, _ byteCount: Int
    ) throws(OffHeapError) {
        guard byteCount > 0 else { throw .zeroSize }
        guard Int(bitPattern: address) & (pageSize - 1) == 0 else { throw .misalignedPointer }
        guard byteCount & (pageSize - 1) == 0 else { throw .invalidAlignment(byteCount) }
    }
}

/// A range of reserved address space: where it starts and how long it is.
///
/// A plain value: it does not unmap on its own. The allocator that reserved it releases it
/// with ``VirtualMemory/release(_:)-(VirtualRegion)`` in its `deinit`.
@frozen
public struct VirtualRegion: @unchecked Sendable, Equatable {
    /// First byte; aligned as requested.
    public let base: UnsafeMutableRawPointer
    /// Length in bytes, a multiple of the page size (of the huge page size for `hugeTLB`).
    public let byteCount: Int
    /// Whether the region is backed by explicit huge pages (`MAP_HUGETLB`).
    public let hugeTLB: Bool

    /// Wraps a range reserved elsewhere (``VirtualMemory/reserve(byteCount:alignment:committed:hugePages:populate:)``
    /// returns regions made this way).
    @inlinable
    package init(base: UnsafeMutableRawPointer, byteCount: Int, hugeTLB: Bool) {
        self.base = base
        self.byteCount = byteCount
        self.hugeTLB = hugeTLB
    }

    /// One past the last byte.
    @inlinable public var end: UnsafeMutableRawPointer { base + byteCount }

    /// Whether `pointer` lies inside the region.
    @inlinable
    public func contains(_ pointer: UnsafeRawPointer) -> Bool {
        let address = UInt(bitPattern: pointer)
        let start = UInt(bitPattern: base)
        return address >= start && address - start < UInt(byteCount)
    }
}
