import OffHeap

/// `Arena` against its shadow: the bump offset computed exactly (the fetch-add fast path,
/// its sticky exhaustion, the aligned compare-exchange path), the typed error of every bad
/// request, `deallocate`'s verdict for any pointer (inside the current generation: no-op;
/// at or past the bump offset: `.useAfterReset`; outside: `.foreignPointer`), the contents
/// of every live block, and the statistics (used, peak, resets, generation).
///
/// Input: 1 configuration byte (capacity in pages), then one operation per byte with its
/// operands in the following bytes.
func fuzzArena(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let pages = 1 + input.pick(8)
    let arena = expectSuccess("Arena(capacity: \(pages) pages)") { () throws(OffHeapError) in
        try Arena(capacity: pages * 4096 - 100)  // rounded up to whole pages
    }
    check(arena.capacity == pages * 4096, "capacity \(arena.capacity), expected \(pages * 4096)")
    var shadow = ArenaShadow(arena: arena)
    shadow.run(&input)
}

struct ArenaShadow {
    let arena: Arena
    let base: UnsafeMutableRawPointer
    var used = 0
    var earlierPeak = 0
    var resets = 0
    var live = LiveSet()
    /// Starts of blocks from earlier generations (kept to free them later).
    var stale: [UnsafeMutableRawPointer] = []

    init(arena: Arena) {
        self.arena = arena
        // Offset 0 of a fresh arena: a 1-byte block is carved from there.
        base = expectSuccess("first allocate") { () throws(OffHeapError) in
            try arena.allocate(byteCount: 1, alignment: 1)
        }
        used = Arena.granule
        live.add(base, byteCount: 1)
    }

    mutating func run(_ input: inout FuzzInput) {
        while !input.isAtEnd {
            switch input.pick(8) {
            case 0, 1, 2: allocate(size: input.byte(), alignment: input.byte())
            case 3: free(live: input.word(), offset: input.byte())
            case 4: freeStale(input.byte())
            case 5: freeAt(offset: input.word())
            case 6: if input.pick(3) == 0 { reset(decommit: input.byte() & 1 == 1) } else { rewrite(input.word()) }
            default: freeForeign(input.byte())
            }
            checkStatistics()
        }
        live.verifyAll("final verify")
        reset(decommit: false)
        checkStatistics()
    }

    /// Sizes: mostly small, sometimes past the fast-path limit or the capacity, zero or
    /// negative. Alignments: powers of two up to twice the page size, sometimes invalid.
    mutating func allocate(size sizeByte: UInt8, alignment alignmentByte: UInt8) {
        let byteCount: Int
        switch sizeByte >> 5 {
        case 0, 1, 2, 3: byteCount = 1 + Int(sizeByte & 127) * 3
        case 4, 5: byteCount = Int(sizeByte & 63) * 100 + 1
        case 6: byteCount = Arena.fastPathLimit - 8 + Int(sizeByte & 31)
        default:
            byteCount = [0, -1, -4096, arena.capacity, arena.capacity + 1, 1 << 40][Int(sizeByte & 31) % 6]
        }
        let alignment: Int
        switch alignmentByte >> 6 {
        case 0, 1: alignment = 1 << Int(alignmentByte & 3)  // fast path (≤ granule)
        case 2: alignment = 1 << Int(alignmentByte % 14)     // 1 ... 8192
        default: alignment = [0, 3, -16, 24, 1 << 62][Int(alignmentByte & 63) % 5]
        }
        let what = "allocate(byteCount: \(byteCount), alignment: \(alignment)) at offset \(used)"
        if byteCount == 0 {
            return expectError(.zeroSize, what) { () throws(OffHeapError) in
                try arena.allocate(byteCount: byteCount, alignment: alignment)
            }
        }
        if byteCount < 0 || byteCount > arena.capacity {
            return expectError(.sizeTooLarge(requested: byteCount, limit: arena.capacity), what) {
                () throws(OffHeapError) in try arena.allocate(byteCount: byteCount, alignment: alignment)
            }
        }
        if alignment <= 0 || alignment & (alignment - 1) != 0 || alignment > arena.maximumAlignment {
            return expectError(.invalidAlignment(alignment), what) { () throws(OffHeapError) in
                try arena.allocate(byteCount: byteCount, alignment: alignment)
            }
        }
        let size = (byteCount + Arena.granule - 1) & ~(Arena.granule - 1)
        let start: Int
        if alignment <= Arena.granule && byteCount <= Arena.fastPathLimit {
            start = used
            if start + size > arena.capacity {
                expectError(.capacityExhausted(capacity: arena.capacity), what) { () throws(OffHeapError) in
                    try arena.allocate(byteCount: byteCount, alignment: alignment)
                }
                used = arena.capacity  // the overshot tail is forfeited until the next reset
                return
            }
        } else {
            start = (used + alignment - 1) & ~(alignment - 1)
            if start + size > arena.capacity {
                return expectError(.capacityExhausted(capacity: arena.capacity), what) {
                    () throws(OffHeapError) in try arena.allocate(byteCount: byteCount, alignment: alignment)
                }
            }
        }
        let p = expectSuccess(what) { () throws(OffHeapError) in
            try arena.allocate(byteCount: byteCount, alignment: alignment)
        }
        check(p == base + start, "\(what) returned offset \(p - base), expected \(start)")
        check(Int(bitPattern: p) % alignment == 0, "\(what) returned misaligned \(p)")
        live.checkDisjoint(p, byteCount: byteCount, what)
        used = start + size
        live.add(p, byteCount: byteCount)
    }

    /// Any pointer into a live block is accepted (a no-op) and the block stays intact.
    mutating func free(live choice: Int, offset: UInt8) {
        guard !live.isEmpty else { return }
        let block = live[choice % live.count]
        let p = block.pointer + Int(offset) % block.byteCount
        expectSuccess("deallocate(live block + \(p - block.pointer))") { () throws(OffHeapError) in
            try arena.deallocate(p)
        }
        block.verify("block after its no-op free")
    }

    /// A block of an earlier generation: accepted while the current generation has
    /// reached past it, `.useAfterReset` otherwise.
    mutating func freeStale(_ choice: UInt8) {
        guard !stale.isEmpty else { return }
        freeAt(offset: stale[Int(choice) % stale.count] - base)
    }

    mutating func freeAt(offset raw: Int) {
        let offset = raw % arena.capacity
        let what = "deallocate(offset \(offset)) with \(used) bytes used"
        if offset < used {
            expectSuccess(what) { () throws(OffHeapError) in try arena.deallocate(base + offset) }
        } else {
            expectError(.useAfterReset, what) { () throws(OffHeapError) in try arena.deallocate(base + offset) }
        }
    }

    mutating func freeForeign(_ choice: UInt8) {
        let pointer: UnsafeMutableRawPointer
        switch choice % 3 {
        case 0: pointer = ForeignMemory.pointer(choice)
        case 1: pointer = base + arena.capacity + Int(choice)
        default: pointer = base - 1 - Int(choice)
        }
        check(!arena.contains(pointer), "owns(foreign \(pointer))")
        expectError(.foreignPointer, "deallocate(foreign \(pointer))") { () throws(OffHeapError) in
            try arena.deallocate(pointer)
        }
    }

    mutating func reset(decommit: Bool) {
        live.verifyAll("verify before reset")
        expectSuccess("reset(decommit: \(decommit))") { () throws(OffHeapError) in
            try arena.reset(decommit: decommit)
        }
        for block in live.blocks where stale.count < 64 { stale.append(block.pointer) }
        live.removeAll()
        earlierPeak = max(earlierPeak, used)
        used = 0
        resets += 1
    }

    mutating func rewrite(_ choice: Int) { live.verifyAndRewrite(choosing: choice) }

    func checkStatistics() {
        let stats = arena.statistics
        let expected = Arena.Statistics(
            capacity: arena.capacity, used: used, peak: max(used, earlierPeak), resets: resets)
        check(stats == expected, "statistics \(stats), shadow \(expected)")
        check(arena.remaining == arena.capacity - used, "remaining \(arena.remaining)")
        check(arena.generation == resets & ((1 << 15) - 1), "generation \(arena.generation), \(resets) resets")
    }
}
