import OffHeap
import Synchronization
import Testing

// Patterned blocks for the concurrent allocator tests (Arena, Arena.Local, SlabPool): every
// block a worker gets is filled with a pattern that names it, logged as a ``LoggedBlock``,
// and checked after the workers joined — disjoint, aligned, pattern intact.
//
// ```swift
// let log = try allocateConcurrentlyAndVerify(
//     threads: 8, perThread: 100, request: mixedRequests(upTo: 160, alignmentShifts: 7),
//     allocator: { _ in arena.allocate(byteCount:alignment:) })
// ```

/// A byte pattern that differs per block and per byte, so a block overwritten by another
/// owner, shifted, or zeroed is detected.
@inline(__always)
public func patternByte(_ seed: UInt64, _ index: Int) -> UInt8 {
    var h = (seed &+ UInt64(index)) &* goldenGamma
    h ^= h >> 29
    return UInt8(truncatingIfNeeded: h) | 1  // never 0: a zeroed page is always caught
}

public func fillPattern(_ pointer: UnsafeMutableRawPointer, _ byteCount: Int, seed: UInt64) {
    for index in 0..<byteCount {
        pointer.storeBytes(of: patternByte(seed, index), toByteOffset: index, as: UInt8.self)
    }
}

public func patternIntact(_ pointer: UnsafeRawPointer, _ byteCount: Int, seed: UInt64) -> Bool {
    for index in 0..<byteCount
    where pointer.load(fromByteOffset: index, as: UInt8.self) != patternByte(seed, index) {
        return false
    }
    return true
}

/// How many bytes at each end of a large block carry its pattern (see `endsOnlyAbove`).
public let patternedEndBytes = 256

/// Fills a block with the pattern of `seed`; a block larger than `threshold` only in its
/// first and last ``patternedEndBytes`` (the last with `~seed`), which keeps tests of large
/// blocks fast.
public func fillBlockPattern(
    _ pointer: UnsafeMutableRawPointer, _ byteCount: Int, seed: UInt64,
    endsOnlyAbove threshold: Int = .max
) {
    if byteCount > threshold {
        fillPattern(pointer, patternedEndBytes, seed: seed)
        fillPattern(pointer + (byteCount - patternedEndBytes), patternedEndBytes, seed: ~seed)
    } else {
        fillPattern(pointer, byteCount, seed: seed)
    }
}

/// Whether a block filled by ``fillBlockPattern(_:_:seed:endsOnlyAbove:)`` with the same
/// arguments still holds its pattern.
public func blockPatternIntact(
    _ pointer: UnsafeRawPointer, _ byteCount: Int, seed: UInt64, endsOnlyAbove threshold: Int = .max
) -> Bool {
    if byteCount > threshold {
        return patternIntact(pointer, patternedEndBytes, seed: seed)
            && patternIntact(pointer + (byteCount - patternedEndBytes), patternedEndBytes, seed: ~seed)
    }
    return patternIntact(pointer, byteCount, seed: seed)
}

/// Checks that the logged blocks are pairwise disjoint, aligned, and still hold their
/// patterns (written with the same `endsOnlyAbove`); returns the number of problems found.
public func verifyDisjointBlocks(_ entries: [LoggedBlock], endsOnlyAbove threshold: Int = .max) -> Int {
    var problems = 0
    let sorted = entries.sorted { $0.address < $1.address }
    for (index, entry) in sorted.enumerated() {
        if entry.address % UInt(entry.alignment) != 0 { problems += 1 }
        if index > 0 {
            let previous = sorted[index - 1]
            if previous.address + UInt(previous.byteCount) > entry.address { problems += 1 }
        }
        let pointer = UnsafeRawPointer(bitPattern: entry.address)!
        if !blockPatternIntact(pointer, entry.byteCount, seed: entry.seed, endsOnlyAbove: threshold) {
            problems += 1
        }
    }
    return problems
}

extension ThreadRows where Row == LoggedBlock {
    /// Fills `block` with the pattern of `seed` (see
    /// ``fillBlockPattern(_:_:seed:endsOnlyAbove:)``) and logs it in `thread`'s row.
    public func appendPatterned(
        thread: Int, _ block: UnsafeMutableRawPointer, byteCount: Int, alignment: Int,
        seed: UInt64, endsOnlyAbove threshold: Int = .max
    ) {
        fillBlockPattern(block, byteCount, seed: seed, endsOnlyAbove: threshold)
        append(
            thread: thread,
            .init(address: UInt(bitPattern: block), byteCount: byteCount, alignment: alignment,
                  seed: seed))
    }
}

/// One worker's allocation function in ``allocateConcurrentlyAndVerify``.
public typealias BlockAllocation = (_ byteCount: Int, _ alignment: Int) throws -> UnsafeMutableRawPointer

/// Requests of mixed sizes (1 ... `maximumBytes`) and alignments (1 ... `1 << (alignmentShifts - 1)`),
/// different per thread and per index.
public func mixedRequests(
    upTo maximumBytes: Int, alignmentShifts: Int
) -> @Sendable (_ thread: Int, _ index: Int) -> (byteCount: Int, alignment: Int) {
    { thread, index in
        (1 + (index * 37 + thread * 11) % maximumBytes, 1 << ((index + thread) % alignmentShifts))
    }
}

/// Runs `threads` workers that each make `perThread` allocations: `allocator(thread)` gives
/// the worker its allocation function (called on the worker's thread), `request` the size and
/// alignment of each request. Every block is filled with its pattern (seed `thread << 32 |
/// index`) and logged in the worker's row. After the join, on the calling thread, expects that
/// no allocation failed, every block was logged, and the blocks are disjoint, aligned and still
/// hold their patterns. Returns the log.
public func allocateConcurrentlyAndVerify(
    threads: Int, perThread: Int, endsOnlyAbove threshold: Int = .max,
    request: @escaping @Sendable (_ thread: Int, _ index: Int) -> (byteCount: Int, alignment: Int),
    allocator: @escaping @Sendable (_ thread: Int) throws -> BlockAllocation,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> ThreadRows<LoggedBlock> {
    let log = ThreadRows<LoggedBlock>(threads: threads, rowsPerThread: perThread)
    let failures = Atomic<Int>(0)
    try PlatformThread.run(count: threads) { thread in
        do {
            let allocate = try allocator(thread)
            for index in 0..<perThread {
                let (byteCount, alignment) = request(thread, index)
                let seed = UInt64(thread) << 32 | UInt64(index)
                do {
                    let block = try allocate(byteCount, alignment)
                    log.appendPatterned(
                        thread: thread, block, byteCount: byteCount, alignment: alignment,
                        seed: seed, endsOnlyAbove: threshold)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        } catch {
            failures.add(1, ordering: .relaxed)
        }
    }
    #expect(failures.load(ordering: .relaxed) == 0, sourceLocation: sourceLocation)
    let entries = log.all
    #expect(entries.count == threads * perThread, sourceLocation: sourceLocation)
    #expect(verifyDisjointBlocks(entries, endsOnlyAbove: threshold) == 0, sourceLocation: sourceLocation)
    return log
}
