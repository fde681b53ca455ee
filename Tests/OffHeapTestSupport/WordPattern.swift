// The word-wise block pattern of the SizeClassHeap tests (fast on large blocks).
//
// ```swift
// heapFillPattern(block, byteCount: 100, tag: 7)
// #expect(heapCheckPattern(block, byteCount: 100, tag: 7))
// ```

/// Deterministic pattern for a block: every 8-byte word derives from `(tag, word index)`.
public func heapFillPattern(_ block: UnsafeMutableRawPointer, byteCount: Int, tag: UInt64) {
    var offset = 0
    while offset + 8 <= byteCount {
        block.storeBytes(
            of: tag &* goldenGamma &+ UInt64(offset), toByteOffset: offset,
            as: UInt64.self)
        offset += 8
    }
    while offset < byteCount {
        block.storeBytes(
            of: UInt8(truncatingIfNeeded: tag &+ UInt64(offset)), toByteOffset: offset,
            as: UInt8.self)
        offset += 1
    }
}

public func heapCheckPattern(_ block: UnsafeMutableRawPointer, byteCount: Int, tag: UInt64) -> Bool {
    var offset = 0
    while offset + 8 <= byteCount {
        if block.load(fromByteOffset: offset, as: UInt64.self)
            != tag &* goldenGamma &+ UInt64(offset)
        {
            return false
        }
        offset += 8
    }
    while offset < byteCount {
        if block.load(fromByteOffset: offset, as: UInt8.self)
            != UInt8(truncatingIfNeeded: tag &+ UInt64(offset))
        {
            return false
        }
        offset += 1
    }
    return true
}
