import OffHeap

/// Stops the process with a message: libFuzzer reports the trap as a crash and saves the
/// input that caused it. Every divergence between an allocator and its shadow model ends here.
func diverged(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz divergence: \(what)", file: file, line: line)
}

/// Traps unless `condition` holds.
func check(
    _ condition: Bool, _ what: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition { diverged(what(), file: file, line: line) }
}

/// Runs `body` and traps unless it throws exactly `expected` (payload included).
func expectError<T>(
    _ expected: OffHeapError, _ what: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line,
    _ body: () throws(OffHeapError) -> T
) {
    do {
        _ = try body()
        diverged("\(what()): succeeded, expected \(expected)", file: file, line: line)
    } catch {
        check(error == expected, "\(what()): threw \(error), expected \(expected)", file: file, line: line)
    }
}

/// Runs `body` and traps unless it throws one of `allowed` (kinds, payload ignored).
func expectError<T>(
    oneOf allowed: [OffHeapError.Kind], _ what: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line,
    _ body: () throws(OffHeapError) -> T
) {
    do {
        _ = try body()
        diverged("\(what()): succeeded, expected one of \(allowed)", file: file, line: line)
    } catch {
        check(allowed.contains(error.kind), "\(what()): threw \(error), expected one of \(allowed)",
            file: file, line: line)
    }
}

/// Runs `body` and traps if it throws.
func expectSuccess<T>(
    _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line,
    _ body: () throws(OffHeapError) -> T
) -> T {
    do {
        return try body()
    } catch {
        diverged("\(what()): threw \(error)", file: file, line: line)
    }
}

/// A live block of the shadow model: where it is, how many bytes the harness owns, and the
/// seed of the pattern those bytes must hold.
struct ShadowBlock {
    var pointer: UnsafeMutableRawPointer
    var byteCount: Int
    var seed: UInt8

    /// Byte `i` of the pattern: depends on the seed and the position, so a block written
    /// over by another block's pattern (an overlap) or shifted is told apart.
    @inline(__always)
    static func patternByte(_ seed: UInt8, _ i: Int) -> UInt8 {
        seed &+ UInt8(truncatingIfNeeded: i &* 31 &+ (i >> 8))
    }

    /// Writes the pattern over the whole block.
    func fill() {
        let bytes = pointer.assumingMemoryBound(to: UInt8.self)
        for i in 0..<byteCount { bytes[i] = Self.patternByte(seed, i) }
    }

    /// Traps unless the block still holds its pattern (the first `limit` bytes of it).
    func verify(_ what: @autoclosure () -> String, limit: Int = .max) {
        let bytes = pointer.assumingMemoryBound(to: UInt8.self)
        for i in 0..<min(byteCount, limit) where bytes[i] != Self.patternByte(seed, i) {
            diverged("\(what()): block \(pointer) (\(byteCount) B) byte \(i) is \(bytes[i]), "
                + "expected \(Self.patternByte(seed, i))")
        }
    }
}

/// The live set: blocks in allocation order, removable by index in O(1).
struct LiveSet {
    private(set) var blocks: [ShadowBlock] = []
    private var nextSeed: UInt8 = 1

    var count: Int { blocks.count }
    var isEmpty: Bool { blocks.isEmpty }

    /// Records a new block and writes its pattern.
    mutating func add(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        let block = ShadowBlock(pointer: pointer, byteCount: byteCount, seed: nextSeed)
        nextSeed = nextSeed &+ 37
        block.fill()
        blocks.append(block)
    }

    subscript(index: Int) -> ShadowBlock { blocks[index] }

    /// Removes block `index` (order is not kept).
    @discardableResult
    mutating func remove(at index: Int) -> ShadowBlock {
        blocks.swapAt(index, blocks.count - 1)
        return blocks.removeLast()
    }

    mutating func removeAll() { blocks.removeAll(keepingCapacity: true) }

    /// Gives block `index` a new pattern (a "write" operation).
    mutating func rewrite(_ index: Int) {
        blocks[index].seed = nextSeed
        nextSeed = nextSeed &+ 37
        blocks[index].fill()
    }

    /// The fuzzers' "write" operation: verifies the block `choice` picks (modulo the count),
    /// then gives it a new pattern; nothing when the set is empty.
    mutating func verifyAndRewrite(choosing choice: Int) {
        guard !isEmpty else { return }
        let index = choice % count
        blocks[index].verify("verify before rewrite")
        rewrite(index)
    }

    /// The index of the live block that contains `pointer` (start or inside), if any.
    func index(containing pointer: UnsafeRawPointer) -> Int? {
        blocks.firstIndex { pointer >= UnsafeRawPointer($0.pointer) && pointer < UnsafeRawPointer($0.pointer) + $0.byteCount }
    }

    /// Traps if `pointer ..< pointer + byteCount` overlaps a live block.
    func checkDisjoint(_ pointer: UnsafeMutableRawPointer, byteCount: Int, _ what: @autoclosure () -> String) {
        let start = UnsafeRawPointer(pointer)
        for block in blocks {
            let other = UnsafeRawPointer(block.pointer)
            if start < other + block.byteCount && other < start + byteCount {
                diverged("\(what()): new block \(pointer) (\(byteCount) B) overlaps live block "
                    + "\(block.pointer) (\(block.byteCount) B)")
            }
        }
    }

    /// Verifies every live block.
    func verifyAll(_ what: @autoclosure () -> String) {
        for block in blocks { block.verify(what()) }
    }
}

/// Memory that belongs to no allocator: the source of foreign pointers.
enum ForeignMemory {
    nonisolated(unsafe) static let buffer: UnsafeMutableRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return p
    }()

    /// A pointer into the buffer, 16-byte aligned so only its owner is wrong.
    static func pointer(_ choice: UInt8) -> UnsafeMutableRawPointer {
        buffer + Int(choice) * 16
    }
}
