import OffHeap

/// `SlabPool` against its shadow: the bump cursor (slab, offset) and the installed slabs
/// computed exactly, the large-block table's verdicts (live, interior, freed, released by a
/// reset, foreign), `deallocate`'s verdict for any slab pointer, block contents, and the
/// statistics (slabs, used bytes, large allocations, resets).
///
/// Input: 3 configuration bytes (slab size, slab limit, large-table size), then one
/// operation per byte with its operands in the following bytes.
func fuzzSlabPool(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let slabSize = 4096 * (1 + input.pick(4))
    let maximumSlabs = 1 + input.pick(6)
    let maximumLarge = 1 + input.pick(6)
    let pool = expectSuccess("SlabPool(\(slabSize), \(maximumSlabs), \(maximumLarge))") {
        () throws(OffHeapError) in
        try SlabPool(slabSize: slabSize, maximumSlabs: maximumSlabs, maximumLargeAllocations: maximumLarge)
    }
    check(pool.largeThreshold == slabSize / 2, "largeThreshold \(pool.largeThreshold)")
    var shadow = SlabPoolShadow(pool: pool)
    shadow.run(&input)
}

struct SlabPoolShadow {
    /// A large block's entry once it is not live: what a free of its address must say.
    struct Tombstone {
        var verdict: OffHeapError  // .doubleFree or .useAfterReset
        /// False once the table may have recycled the entry (then `.foreignPointer` too).
        var certain: Bool
    }

    let pool: SlabPool
    let base: UnsafeMutableRawPointer
    var index = 0
    var offset = 0
    var committed = 1
    var usedInEarlierSlabs = 0
    var resets = 0
    var live = LiveSet()  // slab blocks of this generation
    var large = LiveSet()  // live large blocks (byteCount: the mapping's size)
    var tombstones: [UnsafeMutableRawPointer: Tombstone] = [:]
    var stale: [UnsafeMutableRawPointer] = []

    init(pool: SlabPool) {
        self.pool = pool
        let slabs = pool.slabAddresses
        check(slabs.count == 1, "a new pool has \(slabs.count) slabs installed")
        base = slabs[0]
    }

    var largeBytes: Int { large.blocks.reduce(0) { $0 + $1.byteCount } }

    mutating func run(_ input: inout FuzzInput) {
        while !input.isAtEnd {
            switch input.pick(10) {
            case 0, 1, 2: allocate(size: input.byte(), alignment: input.byte())
            case 3: allocateLarge(size: input.byte())
            case 4: freeLarge(input.word())
            case 5: freeInside(input.word(), offset: input.word())
            case 6: freeStale(input.word())
            case 7: freeAt(offset: input.word() * 8)
            case 8: if input.pick(3) == 0 { reset(decommit: input.byte() & 1 == 1) } else { rewrite(input.word()) }
            default: freeForeign(input.byte())
            }
            checkStatistics()
        }
        while !large.isEmpty { freeLarge(0) }
        reset(decommit: false)
        checkStatistics()
    }

    mutating func allocate(size sizeByte: UInt8, alignment alignmentByte: UInt8) {
        let byteCount: Int
        switch sizeByte >> 6 {
        case 0, 1: byteCount = 1 + Int(sizeByte & 127) * 5
        case 2: byteCount = 1 + Int(sizeByte & 63) * pool.largeThreshold / 64
        default: byteCount = [0, -8, SlabPool.maximumByteCount + 1, pool.largeThreshold][Int(sizeByte & 63) % 4]
        }
        let alignment: Int
        switch alignmentByte >> 6 {
        case 0, 1, 2: alignment = 1 << Int(alignmentByte % 14)  // 1 ... 8192
        default: alignment = [0, 12, -64][Int(alignmentByte & 63) % 3]
        }
        let what = "allocate(byteCount: \(byteCount), alignment: \(alignment)) at slab \(index) + \(offset)"
        let call = { () throws(OffHeapError) in try pool.allocate(byteCount: byteCount, alignment: alignment) }
        if byteCount == 0 { return expectError(.zeroSize, what, call) }
        if byteCount < 0 || byteCount > SlabPool.maximumByteCount {
            return expectError(.sizeTooLarge(requested: byteCount, limit: SlabPool.maximumByteCount), what, call)
        }
        if alignment <= 0 || alignment & (alignment - 1) != 0 || alignment > pool.maximumAlignment {
            return expectError(.invalidAlignment(alignment), what, call)
        }
        if byteCount > pool.largeThreshold { return allocateLarge(byteCount: byteCount, alignment: alignment) }
        var start = (offset + alignment - 1) & ~(alignment - 1)
        if start + byteCount > pool.slabSize {
            guard index + 1 < pool.maximumSlabs else {
                return expectError(.capacityExhausted(capacity: pool.maximumSlabs), what, call)
            }
            usedInEarlierSlabs += offset
            index += 1
            committed = max(committed, index + 1)
            start = 0
        }
        let p = expectSuccess(what, call)
        let expected = base + index * pool.slabSize + start
        check(p == expected, "\(what) returned \(p), expected slab \(index) + \(start)")
        live.checkDisjoint(p, byteCount: byteCount, what)
        offset = start + byteCount
        live.add(p, byteCount: byteCount)
    }

    mutating func allocateLarge(size: UInt8) {
        let byteCount = pool.largeThreshold + 1 + Int(size) * 97
        allocateLarge(byteCount: byteCount, alignment: 1 << Int(size % 13))
    }

    mutating func allocateLarge(byteCount: Int, alignment: Int) {
        let what = "allocate(large: \(byteCount), alignment: \(alignment)) with \(large.count) live"
        let call = { () throws(OffHeapError) in try pool.allocate(byteCount: byteCount, alignment: alignment) }
        if large.count == pool.maximumLargeAllocations {
            return expectError(.largeAllocationsExhausted(limit: pool.maximumLargeAllocations), what, call)
        }
        // With no empty entry left the insert recycles a tombstone: which one is unknown.
        if large.count + tombstones.count >= pool.maximumLargeAllocations {
            for key in tombstones.keys { tombstones[key]?.certain = false }
        }
        let p = expectSuccess(what, call)
        check(Int(bitPattern: p) % alignment == 0, "\(what) returned misaligned \(p)")
        let mapped = (byteCount + 4095) & ~4095
        large.checkDisjoint(p, byteCount: mapped, what)
        live.checkDisjoint(p, byteCount: mapped, what)
        check(!(p >= base && p < base + pool.maximumSlabs * pool.slabSize), "\(what) returned \(p) in the slab region")
        tombstones[p] = nil  // the insert forgot the address's older tombstones
        large.add(p, byteCount: mapped)
        check(pool.contains(p + mapped - 1), "owns(last byte of a live large block) is false")
    }

    mutating func freeLarge(_ choice: Int) {
        guard !large.isEmpty else { return }
        let block = large.remove(at: choice % large.count)
        block.verify("large block before its free")
        expectSuccess("deallocate(large \(block.pointer))") { () throws(OffHeapError) in
            try pool.deallocate(block.pointer)
        }
        tombstones[block.pointer] = Tombstone(verdict: .doubleFree, certain: true)
        if stale.count < 64 { stale.append(block.pointer) }
    }

    /// Inside a live large block: `.interiorPointer`. Inside a slab block: a no-op.
    mutating func freeInside(_ choice: Int, offset delta: Int) {
        if choice & 1 == 0, !large.isEmpty {
            let block = large[choice / 2 % large.count]
            let p = block.pointer + 1 + delta % (block.byteCount - 1)
            expectError(.interiorPointer, "deallocate(large + \(p - block.pointer))") { () throws(OffHeapError) in
                try pool.deallocate(p)
            }
        } else if !live.isEmpty {
            let block = live[choice / 2 % live.count]
            expectSuccess("deallocate(slab block + k)") { () throws(OffHeapError) in
                try pool.deallocate(block.pointer + delta % block.byteCount)
            }
            block.verify("slab block after its no-op free")
        }
    }

    /// A freed or reset-released block, large or slab.
    mutating func freeStale(_ choice: Int) {
        guard !stale.isEmpty else { return }
        let p = stale[choice % stale.count]
        if p >= base && p < base + pool.maximumSlabs * pool.slabSize { return freeAt(offset: p - base) }
        if large.blocks.contains(where: { $0.pointer == p }) { return }  // mapped again, live
        let what = "deallocate(stale large \(p))"
        if large.index(containing: p) != nil {
            return expectError(.interiorPointer, what) { () throws(OffHeapError) in try pool.deallocate(p) }
        }
        guard let tombstone = tombstones[p] else {
            return expectError(.foreignPointer, what) { () throws(OffHeapError) in try pool.deallocate(p) }
        }
        if tombstone.certain {
            expectError(tombstone.verdict, what) { () throws(OffHeapError) in try pool.deallocate(p) }
        } else {
            expectError(oneOf: [tombstone.verdict.kind, .foreignPointer], what) { () throws(OffHeapError) in
                try pool.deallocate(p)
            }
        }
    }

    /// Any pointer into the slab region: judged by the cursor and the installed slabs.
    mutating func freeAt(offset raw: Int) {
        let region = pool.maximumSlabs * pool.slabSize
        let delta = raw % region
        let slab = delta / pool.slabSize
        let inSlab = delta % pool.slabSize
        let what = "deallocate(slab \(slab) + \(inSlab)), cursor at slab \(index) + \(offset), \(committed) installed"
        let call = { () throws(OffHeapError) in try pool.deallocate(base + delta) }
        if slab >= committed { return expectError(.foreignPointer, what, call) }
        if slab > index || (slab == index && inSlab >= offset) { return expectError(.useAfterReset, what, call) }
        expectSuccess(what, call)
    }

    mutating func freeForeign(_ choice: UInt8) {
        let pointer = choice & 1 == 0
            ? ForeignMemory.pointer(choice) : base + pool.maximumSlabs * pool.slabSize + Int(choice) * 8
        if large.index(containing: pointer) != nil || tombstones[pointer] != nil { return }
        check(!pool.contains(pointer), "owns(foreign \(pointer))")
        expectError(.foreignPointer, "deallocate(foreign \(pointer))") { () throws(OffHeapError) in
            try pool.deallocate(pointer)
        }
    }

    mutating func reset(decommit: Bool) {
        live.verifyAll("verify before reset")
        large.verifyAll("verify large before reset")
        expectSuccess("reset(decommit: \(decommit))") { () throws(OffHeapError) in
            try pool.reset(decommit: decommit)
        }
        for block in live.blocks + large.blocks where stale.count < 64 { stale.append(block.pointer) }
        for block in large.blocks { tombstones[block.pointer] = Tombstone(verdict: .useAfterReset, certain: true) }
        live.removeAll()
        large.removeAll()
        index = 0
        offset = 0
        usedInEarlierSlabs = 0
        resets += 1
    }

    mutating func rewrite(_ choice: Int) {
        if choice & 1 == 0, !large.isEmpty {
            large.verifyAndRewrite(choosing: choice / 2)
        } else {
            live.verifyAndRewrite(choosing: choice / 2)
        }
    }

    func checkStatistics() {
        let stats = pool.statistics
        check(stats.slabs == committed, "statistics.slabs \(stats.slabs), shadow \(committed)")
        check(stats.usedBytes == usedInEarlierSlabs + offset + largeBytes,
            "statistics.usedBytes \(stats.usedBytes), shadow \(usedInEarlierSlabs) + \(offset) + \(largeBytes)")
        check(stats.largeAllocations == large.count, "statistics.largeAllocations \(stats.largeAllocations), shadow \(large.count)")
        check(stats.resets == resets, "statistics.resets \(stats.resets), shadow \(resets)")
        check(pool.generation == resets % 128, "generation \(pool.generation), \(resets) resets")
    }
}
