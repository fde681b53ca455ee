/// The size-class table of ``SizeClassHeap``.
///
/// Classes are 8, 16, …, 64 bytes (8-byte steps), then eight classes per power of two up to
/// ``maxSmallSize`` (72, 80, …, 128, 144, …, 256, 288, …). A request of `n > 64` bytes is
/// rounded up by less than `n / 8`, so internal waste stays ≤ 12.5 %; below 64 bytes the
/// 8-byte granularity (the minimum alignment) bounds it instead.
///
/// ```swift
/// let index = SizeClassTable.classIndex(forByteCount: 100)   // 104-byte class
/// SizeClassTable.blockSize(ofClass: index)                  // 104
/// ```
@usableFromInline
package enum SizeClassTable {
    /// Number of classes.
    @inlinable package static var classCount: Int { 80 }
    /// Largest request served from a page; larger ones get their own mapping.
    @inlinable package static var maxSmallSize: Int { 32 << 10 }

    /// The class serving `byteCount` bytes (`1...maxSmallSize`).
    @inlinable @inline(__always)
    package static func classIndex(forByteCount byteCount: Int) -> Int {
        if byteCount <= 64 { return (byteCount &+ 7) &>> 3 &- 1 }
        let m = byteCount &- 1
        let e = Int.bitWidth &- 1 &- m.leadingZeroBitCount
        let j = (m &>> (e &- 3)) & 7
        return 8 &+ (e &- 6) &* 8 &+ j
    }

    /// The block size of class `index`.
    @inlinable
    package static func blockSize(ofClass index: Int) -> Int {
        if index < 8 { return (index + 1) * 8 }
        let e = 6 + (index - 8) / 8
        let j = (index - 8) % 8
        return (1 << e) + (j + 1) * (1 << (e - 3))
    }

    /// The smallest class whose blocks hold `byteCount` bytes at `alignment` (a power of two
    /// above 8), or -1 when no class fits (the request goes to its own mapping).
    ///
    /// Pages start 64 KiB-aligned and blocks are laid out back to back, so a class whose size
    /// is a multiple of `alignment` aligns every block; power-of-two classes always qualify.
    @inlinable
    package static func classIndex(forByteCount byteCount: Int, alignment: Int) -> Int {
        let rounded = (byteCount + alignment - 1) & ~(alignment - 1)
        guard rounded <= maxSmallSize else { return -1 }
        var index = classIndex(forByteCount: rounded)
        while index < classCount {
            if blockSize(ofClass: index) & (alignment - 1) == 0 { return index }
            index += 1
        }
        return -1
    }

    /// Units (64 KiB) spanned by a page of class `index`: one up to 8 KiB blocks, four
    /// (256 KiB, at least eight blocks) above.
    @inlinable
    package static func unitsPerPage(ofClass index: Int) -> Int {
        blockSize(ofClass: index) <= 8192 ? 1 : 4
    }
}
