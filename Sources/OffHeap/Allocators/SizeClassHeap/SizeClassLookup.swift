/// Request size → size class in one byte load, for ``SizeClassHeap``'s allocate fast path.
///
/// `classes[(byteCount + 7) >> 3]` is ``SizeClassTable/classIndex(forByteCount:)`` of any
/// `byteCount` in `1...SizeClassTable.maxSmallSize` (every class size is a multiple of 8, so
/// all sizes with the same `ceil(n / 8)` share a class), and entry 0 is class 0 (the 8-byte
/// class serves `byteCount == 0`). 4097 bytes, one mapping per process.
///
/// Invariant: the table is written once, inside the `shared` initialiser (which the runtime
/// runs exactly once, with a barrier, before any heap can read `classes`), and never again;
/// heaps copy the pointer at `init` and only read through it.
///
/// ```swift
/// let classes = SizeClassLookup.shared.classes!
/// Int(classes[(100 + 7) >> 3])   // SizeClassTable.classIndex(forByteCount: 100)
/// ```
@usableFromInline
internal final class SizeClassLookup: @unchecked Sendable {
    // @unchecked Sendable: immutable after init (see above).
    static let shared = SizeClassLookup()

    /// Entries: one per 8 bytes of request, 0 through `maxSmallSize`.
    @inlinable static var entryCount: Int { (SizeClassTable.maxSmallSize >> 3) + 1 }

    /// `nil` only if the table could not be mapped (heaps then refuse to initialise).
    @usableFromInline let classes: UnsafePointer<UInt8>?

    private init() {
        let count = SizeClassLookup.entryCount
        guard let region = try? VirtualMemory.reserve(byteCount: count, committed: true) else {
            classes = nil
            return
        }
        let table = region.base.bindMemory(to: UInt8.self, capacity: count)
        table[0] = 0
        for index in 1..<count {
            table[index] = UInt8(SizeClassTable.classIndex(forByteCount: index << 3))
        }
        classes = UnsafePointer(table)
    }
}

extension SizeClassHeap {
    /// The class of a request the fast path accepted: `byteCount` in
    /// `0...SizeClassTable.maxSmallSize`, `alignment` a power of two ≤ 16. Up to 8-byte
    /// alignment every block qualifies; a 16-byte alignment rounds the size (0 counted as 1)
    /// up to a multiple of 16, which lands on a class whose size is a multiple of 16 (classes
    /// step by 8 up to 128 B, by ≥ 16 above, and the rounded sizes 16…128 are classes).
    ///
    /// Up to 64 B the class is `ceil(n / 8) - 1` (0 for 0) at 8-byte alignment, and
    /// `ceil(max(n, 1) / 16) * 2 - 1` at 16 (the default), computed rather than loaded, so a
    /// constant small size (the common `allocate` of one type) still folds to a constant class.
    @inlinable @inline(__always)
    internal func smallClass(byteCount: Int, alignment: Int) -> Int {
        let index: Int
        if alignment <= 8 {
            index = (byteCount &+ 7) &>> 3
            if byteCount <= 64 { return index &- (index != 0 ? 1 : 0) }
        } else if alignment == 16, byteCount <= 64 {
            return ((((byteCount | Int(byteCount == 0 ? 1 : 0)) &+ 15) & ~15) &>> 3) &- 1
        } else {
            let size = byteCount | Int(byteCount == 0 ? 1 : 0)
            index = ((size &+ alignment &- 1) & ~(alignment &- 1)) &>> 3
        }
        return Int(classLookup[index])
    }
}
