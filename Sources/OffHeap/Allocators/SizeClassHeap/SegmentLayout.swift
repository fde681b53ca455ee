import Synchronization

/// Geometry of a segment: a 4 MiB, 4 MiB-aligned reservation split into 64 units of 64 KiB.
///
/// ```
/// unit 0        SegmentHeader, then 64 PageMeta descriptors (one per unit), then 64
///               remote-free stack heads (one per unit, a cache line each)
/// unit 1        checked mode: allocated-block bitmaps, 1 KiB per unit (owner-written)
/// unit 2        checked mode: remotely-freed bitmaps, 1 KiB per unit (atomic OR)
/// units 3…63    pages: one size class each, 1 or 4 units long
/// ```
/// A block's page is found with no lookup: mask the address to the segment base, shift the
/// offset to a unit index, and follow that unit's `leader` to the page's first descriptor.
/// Huge segments (one large allocation each) have only the header; the block follows it.
@usableFromInline
internal enum SegmentLayout {
    @inlinable static var segmentShift: Int { 22 }
    @inlinable static var segmentSize: Int { 1 << segmentShift }
    @inlinable static var segmentMask: UInt { UInt(segmentSize - 1) }
    @inlinable static var unitShift: Int { 16 }
    @inlinable static var unitSize: Int { 1 << unitShift }
    @inlinable static var unitCount: Int { 64 }
    @inlinable static var metadataUnits: Int { 3 }
    /// Bits of the units pages may use (3…63).
    @inlinable static var usableUnitsMask: UInt64 { ~UInt64(0b111) }
    @inlinable static var bitmapBytesPerUnit: Int { 1024 }
    @inlinable static var magic: UInt64 { 0x5348_4541_5053_4547 }  // "SHEAPSEG"
    @inlinable static var kindSmall: UInt8 { 0 }
    @inlinable static var kindHuge: UInt8 { 1 }

    @inlinable static var pageMetaOffset: Int {
        (MemoryLayout<SegmentHeader>.stride + 63) & ~63
    }

    /// The remote-free stack heads, after the descriptors: a line per unit.
    @inlinable static var threadFreeOffset: Int {
        pageMetaOffset + unitCount * MemoryLayout<PageMeta>.stride
    }

    /// The head of the remote-free stack of the page whose descriptor is `page` (a block
    /// address, 0 when empty; the stack is described at ``PageMeta``).
    ///
    /// Not a field of the descriptor: other threads' frees CAS it, and on the descriptor's
    /// line every push took the line from the owner, whose next allocation from the page
    /// then missed on `localFree` (half of the producer's allocation time in
    /// producer-consumer). Each head has its own line, so pushes to one page do not disturb
    /// the owner's descriptor or another page's stack.
    @inlinable @inline(__always)
    static func threadFree(_ page: PagePointer) -> UnsafeMutablePointer<Atomic<UInt>> {
        let address = UInt(bitPattern: page)
        let segment = address & ~segmentMask
        let unit = ((address & segmentMask) &- UInt(pageMetaOffset)) &>> 6
        let head = segment &+ UInt(threadFreeOffset) &+ (unit &<< 6)
        return UnsafeMutablePointer(bitPattern: head).unsafelyUnwrapped
    }

    @inlinable @inline(__always)
    static func header(_ segment: UnsafeMutableRawPointer) -> UnsafeMutablePointer<SegmentHeader> {
        segment.assumingMemoryBound(to: SegmentHeader.self)
    }

    @inlinable @inline(__always)
    static func pageMeta(_ segment: UnsafeMutableRawPointer, _ unit: Int) -> PagePointer {
        (segment + pageMetaOffset).assumingMemoryBound(to: PageMeta.self) + unit
    }

    /// First byte of the page whose descriptor is `page` (descriptors are 64 bytes apart).
    @inlinable @inline(__always)
    static func pageStart(_ page: PagePointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: pageStartAddress(page))!
    }

    /// ``pageStart(_:)`` as an address, for the checked fast paths that only do arithmetic
    /// with it (no nil test).
    @inlinable @inline(__always)
    static func pageStartAddress(_ page: PagePointer) -> UInt {
        let address = UInt(bitPattern: page)
        let segment = address & ~segmentMask
        let unit = ((address & segmentMask) &- UInt(pageMetaOffset)) &>> 6
        return segment | (unit &<< UInt(unitShift))
    }

    /// 64-bit words of the allocated bitmaps; unit `u`'s 128 words start at `u * 128`.
    @inlinable @inline(__always)
    static func allocatedBitmap(_ segment: UnsafeMutableRawPointer)
        -> UnsafeMutablePointer<Atomic<UInt64>>
    {
        (segment + unitSize).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// 64-bit words of the remotely-freed bitmaps, indexed like `allocatedBitmap`.
    @inlinable @inline(__always)
    static func remoteBitmap(_ segment: UnsafeMutableRawPointer)
        -> UnsafeMutablePointer<Atomic<UInt64>>
    {
        (segment + 2 * unitSize).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}
