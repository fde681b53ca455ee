import OffHeap

/// `SizeClassHeap` (checked) against its shadow: blocks aligned, at least as large as asked
/// (`usableSize`), disjoint and intact until freed (also across `reallocate`, `trim()` and
/// segment release); the typed error of every bad request and bad free; a pointer that is
/// not a live block's start never frees anything; the statistics count the live blocks.
///
/// Input: 2 configuration bytes (cache and retention bounds), then one operation per byte
/// with its operands in the following bytes.
func fuzzSizeClassHeap(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let flags = input.byte()
    let retained = input.pick(4) * (64 << 10)
    let configuration = SizeClassHeap.Configuration(
        checking: .checked, maximumCachedSegments: Int(flags & 3), retainedEmptyPageBytes: retained,
        hugeCacheCount: Int(flags >> 2 & 3))
    let heap = expectSuccess("SizeClassHeap()") { () throws(OffHeapError) in
        try SizeClassHeap(configuration: configuration)
    }
    var shadow = SizeClassHeapShadow(heap: heap)
    shadow.run(&input)
}

struct SizeClassHeapShadow {
    let heap: SizeClassHeap
    var live = LiveSet()  // byteCount: the bytes the shadow fills (≤ the request)
    var stale: [UnsafeMutableRawPointer] = []

    init(heap: SizeClassHeap) { self.heap = heap }

    /// Bytes of a block the shadow writes and verifies (huge blocks: the first 64 KiB).
    static func filled(_ byteCount: Int) -> Int { min(max(byteCount, 0), 64 << 10) }

    mutating func run(_ input: inout FuzzInput) {
        var step = 0
        while !input.isAtEnd {
            switch input.pick(11) {
            case 0, 1, 2: allocate(size: input.word(), alignment: input.byte())
            case 3, 4: freeLive(input.word())
            case 5: freeStale(input.word())
            case 6: freeInside(input.word(), offset: input.word())
            case 7: reallocate(input.word(), size: input.word())
            case 8: freeForeign(input.byte())
            case 9: usableSize(input.word())
            default:
                switch input.pick(4) {
                case 0: heap.trim()
                case 1: heap.releaseExpiredSegments()
                default: rewrite(input.word())
                }
                live.verifyAll("verify after trim")
            }
            step += 1
            if step % 16 == 0 { checkStatistics() }
        }
        while !live.isEmpty { freeLive(0) }
        checkStatistics()
    }

    /// Sizes: small classes mostly, sometimes huge (own mapping), zero, negative or too
    /// large; alignments: 1 ... 64 mostly, sometimes large or invalid.
    func request(_ size: Int, _ alignmentByte: UInt8) -> (byteCount: Int, alignment: Int) {
        let byteCount: Int
        switch size >> 13 {
        case 0 ..< 4: byteCount = size & 1023  // 0 ... 1023
        case 4 ..< 6: byteCount = (size & 8191) * 4  // up to 32 KiB
        case 6: byteCount = 32 << 10 + (size & 8191) * 12  // huge, up to ~128 KiB
        default: byteCount = [-1, SizeClassHeap.maximumByteCount + 1, Int.min, 0][size & 3]
        }
        let alignment: Int
        switch alignmentByte >> 5 {
        case 0 ..< 5: alignment = 1 << Int(alignmentByte & 7)  // 1 ... 128
        case 5, 6: alignment = 1 << Int(alignmentByte % 21)  // up to 1 MiB
        default: alignment = [0, -8, 48, SizeClassHeap.maximumAlignment << 1][Int(alignmentByte & 3)]
        }
        return (byteCount, alignment)
    }

    mutating func allocate(size: Int, alignment alignmentByte: UInt8) {
        let (byteCount, alignment) = request(size, alignmentByte)
        let what = "allocate(byteCount: \(byteCount), alignment: \(alignment))"
        let call = { () throws(OffHeapError) in try heap.allocate(byteCount: byteCount, alignment: alignment) }
        if alignment <= 0 || alignment & (alignment - 1) != 0 || alignment > SizeClassHeap.maximumAlignment {
            return expectError(.invalidAlignment(alignment), what, call)
        }
        if byteCount < 0 || byteCount > SizeClassHeap.maximumByteCount {
            return expectError(.sizeTooLarge(requested: byteCount, limit: SizeClassHeap.maximumByteCount), what, call)
        }
        let p = expectSuccess(what, call)
        admit(p, byteCount: byteCount, alignment: alignment, what)
    }

    /// Checks a new block and adds it to the live set.
    mutating func admit(_ p: UnsafeMutableRawPointer, byteCount: Int, alignment: Int, _ what: String) {
        check(Int(bitPattern: p) % max(alignment, 8) == 0, "\(what) returned misaligned \(p)")
        let usable = expectSuccess("usableSize(of: new block)") { () throws(OffHeapError) in
            try heap.usableSize(of: p)
        }
        check(usable >= max(byteCount, 1), "\(what): usableSize \(usable)")
        live.checkDisjoint(p, byteCount: max(byteCount, 1), what)
        stale.removeAll { $0 == p }
        live.add(p, byteCount: Self.filled(byteCount))
    }

    mutating func freeLive(_ choice: Int) {
        guard !live.isEmpty else { return }
        let block = live.remove(at: choice % live.count)
        block.verify("free of a live block")
        expectSuccess("deallocate(live \(block.pointer))") { () throws(OffHeapError) in
            try heap.deallocate(block.pointer)
        }
        if stale.count < 64 { stale.append(block.pointer) } else { stale[Int(block.seed) % 64] = block.pointer }
    }

    /// A freed block's start: never freed again. Its page or segment may since have been
    /// released or reused, so the verdict is one of three, but never success.
    mutating func freeStale(_ choice: Int) {
        guard !stale.isEmpty else { return }
        let p = stale[choice % stale.count]
        if live.blocks.contains(where: { $0.pointer == p }) { return }  // handed out again
        let what = "deallocate(freed \(p))"
        let call = { () throws(OffHeapError) in try heap.deallocate(p) }
        if let j = live.index(containing: p), live[j].pointer != p {
            return expectError(.interiorPointer, what, call)
        }
        expectError(oneOf: [.doubleFree, .foreignPointer, .interiorPointer], what, call)
        live.verifyAll("verify after a rejected free")
    }

    /// Inside a live block: `.misalignedPointer` unless 8-aligned, else `.interiorPointer`.
    mutating func freeInside(_ choice: Int, offset: Int) {
        guard !live.isEmpty else { return }
        let block = live[choice % live.count]
        let usable = expectSuccess("usableSize") { () throws(OffHeapError) in try heap.usableSize(of: block.pointer) }
        guard usable > 1 else { return }
        let k = 1 + offset % (usable - 1)
        let expected: OffHeapError = k % 8 != 0 ? .misalignedPointer : .interiorPointer
        expectError(expected, "deallocate(block + \(k)), usable \(usable)") { () throws(OffHeapError) in
            try heap.deallocate(block.pointer + k)
        }
        expectError(expected, "usableSize(of: block + \(k))") { () throws(OffHeapError) in
            try heap.usableSize(of: block.pointer + k)
        }
        block.verify("block after a rejected interior free")
    }

    mutating func reallocate(_ choice: Int, size: Int) {
        guard !live.isEmpty else { return }
        let block = live.remove(at: choice % live.count)
        let (byteCount, alignment) = request(size % (7 << 13), 3)  // valid: small or huge, 8-aligned
        let what = "reallocate(\(block.pointer), byteCount: \(byteCount))"
        let p = expectSuccess(what) { () throws(OffHeapError) in
            try heap.reallocate(block.pointer, byteCount: byteCount, alignment: alignment)
        }
        ShadowBlock(pointer: p, byteCount: min(block.byteCount, Self.filled(byteCount)), seed: block.seed)
            .verify("\(what): contents moved")
        if p != block.pointer, stale.count < 64 { stale.append(block.pointer) }
        admit(p, byteCount: byteCount, alignment: alignment, what)
    }

    mutating func freeForeign(_ choice: UInt8) {
        let p = ForeignMemory.pointer(choice) + Int(choice & 7)
        let expected: OffHeapError = choice & 7 != 0 ? .misalignedPointer : .foreignPointer
        expectError(expected, "deallocate(foreign \(p))") { () throws(OffHeapError) in try heap.deallocate(p) }
        expectError(expected, "usableSize(of: foreign \(p))") { () throws(OffHeapError) in try heap.usableSize(of: p) }
    }

    mutating func usableSize(_ choice: Int) {
        guard !stale.isEmpty else { return }
        let p = stale[choice % stale.count]
        if live.blocks.contains(where: { $0.pointer == p }) { return }
        if let j = live.index(containing: p) {
            return expectError(.interiorPointer, "usableSize(of: freed \(p) inside a live block \(live[j].pointer))") {
                () throws(OffHeapError) in try heap.usableSize(of: p)
            }
        }
        expectError(oneOf: [.doubleFree, .foreignPointer, .interiorPointer], "usableSize(of: freed \(p))") {
            () throws(OffHeapError) in try heap.usableSize(of: p)
        }
    }

    mutating func rewrite(_ choice: Int) { live.verifyAndRewrite(choosing: choice) }

    func checkStatistics() {
        let stats = heap.statistics
        let small = stats.sizeClasses.reduce(0) { $0 + $1.inUseBlocks }
        check(small + stats.hugeBlocks == live.count,
            "statistics: \(small) small + \(stats.hugeBlocks) huge blocks in use, shadow has \(live.count)")
    }
}
