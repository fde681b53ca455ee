import OffHeap

/// `FreeList` against its shadow: a state per slot index (the checked mode's promise),
/// the live set with contents, and `stats.inUse`.
///
/// Input: 4 configuration bytes (slot size, alignment, capacity, flags), then one
/// operation per byte with its operands in the following bytes.
func fuzzFreeList(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let slotSize = 8 + input.pick(200)
    let alignment = 1 << input.pick(7)  // 1 ... 64
    let capacity = 1 + input.pick(160)
    let flags = input.byte()
    var configuration = FreeList.Configuration(slotSize: slotSize, slotAlignment: alignment, capacity: capacity)
    configuration.growth = flags & 1 == 0 ? .lazy : .preallocate(populate: false)
    configuration.slabSize = flags & 2 == 0 ? nil : 4096  // small slabs: growth happens often
    configuration.checking = flags & 4 == 0 ? .checked : .unchecked
    configuration.decommitOnReset = flags & 8 != 0
    let pool = expectSuccess("FreeList(configuration: \(configuration))") { () throws(OffHeapError) in
        try FreeList(configuration: configuration)
    }
    var shadow = FreeListShadow(pool: pool)
    shadow.run(&input)
}

/// What the checked mode knows about a slot index that is not live.
enum FreeListSlotState {
    /// Never allocated, or freed by `deallocate`: a free is `.doubleFree`.
    case free
    /// Handed out now.
    case live
    /// Freed by `reset()` and not allocated since: a free is `.useAfterReset`.
    case freedByReset
}

struct FreeListShadow {
    let pool: FreeList
    let base: UnsafeMutableRawPointer
    let stride: Int
    let checked: Bool
    var states: [FreeListSlotState]
    var live = LiveSet()

    init(pool: FreeList) {
        self.pool = pool
        guard let base = pool.slot(at: 0) else { diverged("slot(at: 0) is nil") }
        self.base = base
        stride = pool.slotSize
        checked = pool.configuration.checking == .checked
        states = Array(repeating: .free, count: pool.capacity)
        check(pool.slot(at: pool.capacity) == nil, "slot(at: capacity) is not nil")
        check(pool.slot(at: -1) == nil, "slot(at: -1) is not nil")
    }

    func index(of pointer: UnsafeMutableRawPointer) -> Int { (pointer - base) / stride }

    mutating func run(_ input: inout FuzzInput) {
        while !input.isAtEnd {
            switch input.pick(10) {
            case 0, 1, 2: allocate()
            case 3, 4: freeLive(input.word())
            case 5: freeNotLive(input.word())
            case 6: freeInside(input.word(), offset: input.word())
            case 7: freeForeign(input.byte())
            case 8: if input.pick(4) == 0 { reset() } else { rewrite(input.word()) }
            default: lookup(input.word())
            }
            checkStatistics()
        }
        // Drain: every block intact, every free accepted, nothing in use.
        while !live.isEmpty { freeLive(0) }
        checkStatistics()
    }

    mutating func allocate() {
        if live.count == pool.capacity {
            expectError(.capacityExhausted(capacity: pool.capacity), "allocate with all \(pool.capacity) slots live") {
                () throws(OffHeapError) in try pool.allocate()
            }
            return
        }
        let p = expectSuccess("allocate with \(live.count) of \(pool.capacity) live") {
            () throws(OffHeapError) in try pool.allocate()
        }
        check((p - base) >= 0 && (p - base) % stride == 0, "allocate returned \(p), not a slot start")
        check(Int(bitPattern: p) % pool.slotAlignment == 0, "allocate returned misaligned \(p)")
        let i = index(of: p)
        check(i < pool.capacity, "allocate returned slot \(i) beyond capacity \(pool.capacity)")
        check(states[i] != .live, "allocate handed out live slot \(i) twice")
        let reported = expectSuccess("slotIndex(of: allocated \(p))") { () throws(OffHeapError) in
            try pool.slotIndex(of: p)
        }
        check(reported == i, "slotIndex(of:) says \(reported), expected \(i)")
        states[i] = .live
        live.add(p, byteCount: stride)
    }

    mutating func freeLive(_ choice: Int) {
        guard !live.isEmpty else { return }
        let block = live.remove(at: choice % live.count)
        block.verify("free of a live slot")
        expectSuccess("deallocate(live slot \(index(of: block.pointer)))") { () throws(OffHeapError) in
            try pool.deallocate(block.pointer)
        }
        states[index(of: block.pointer)] = .free
    }

    /// A slot start that is not live: never allocated, freed, freed by a reset, or not yet
    /// published (its slab is not committed).
    mutating func freeNotLive(_ choice: Int) {
        let i = choice % pool.capacity
        guard states[i] != .live else { return }
        let published = pool.statistics.publishedSlots
        let expected: OffHeapError
        if i >= published {
            expected = .foreignPointer
        } else {
            // Unchecked mode trusts the caller with published slots: no such call.
            guard checked else { return }
            expected = states[i] == .freedByReset ? .useAfterReset : .doubleFree
        }
        expectError(expected, "deallocate(slot \(i), \(states[i]), \(published) published)") {
            () throws(OffHeapError) in try pool.deallocate(base + i * stride)
        }
    }

    /// A pointer inside slot `choice`, `offset` bytes past its start (never the start).
    mutating func freeInside(_ choice: Int, offset: Int) {
        guard stride > 1 else { return }
        let i = choice % pool.capacity
        let k = 1 + offset % (stride - 1)
        let expected: OffHeapError = k % pool.slotAlignment != 0 ? .misalignedPointer : .interiorPointer
        expectError(expected, "deallocate(slot \(i) + \(k)), stride \(stride)") {
            () throws(OffHeapError) in try pool.deallocate(base + i * stride + k)
        }
        expectError(expected, "slotIndex(of: slot \(i) + \(k))") { () throws(OffHeapError) in
            try pool.slotIndex(of: base + i * stride + k)
        }
    }

    mutating func freeForeign(_ choice: UInt8) {
        let pointer: UnsafeMutableRawPointer
        switch choice % 3 {
        case 0: pointer = ForeignMemory.pointer(choice)
        case 1: pointer = base + pool.capacity * stride  // one past the last slot
        default: pointer = base - stride * (1 + Int(choice))
        }
        check(!pool.contains(pointer), "contains(\(pointer)) for a foreign pointer")
        expectError(.foreignPointer, "deallocate(foreign \(pointer))") { () throws(OffHeapError) in
            try pool.deallocate(pointer)
        }
    }

    mutating func reset() {
        let published = pool.statistics.publishedSlots
        let epoch = pool.resetEpoch
        expectSuccess("reset()") { () throws(OffHeapError) in try pool.reset() }
        check(pool.resetEpoch == epoch + 1, "resetEpoch \(pool.resetEpoch), expected \(epoch + 1)")
        for i in 0..<published { states[i] = checked ? .freedByReset : .free }
        live.removeAll()
    }

    mutating func rewrite(_ choice: Int) { live.verifyAndRewrite(choosing: choice) }

    /// `slot(at:)`, `slotIndex(of:)` and `contains` agree with the layout.
    mutating func lookup(_ choice: Int) {
        let i = choice % pool.capacity
        check(pool.slot(at: i) == base + i * stride, "slot(at: \(i)) is \(String(describing: pool.slot(at: i)))")
        check(pool.contains(base + i * stride + stride - 1), "contains(last byte of slot \(i)) is false")
        if i >= pool.statistics.publishedSlots {
            // Its slab is not committed yet: no slot there was ever handed out.
            expectError(.foreignPointer, "slotIndex(of: unpublished slot \(i))") { () throws(OffHeapError) in
                try pool.slotIndex(of: base + i * stride)
            }
        } else {
            let reported = expectSuccess("slotIndex(of: slot \(i))") { () throws(OffHeapError) in
                try pool.slotIndex(of: base + i * stride)
            }
            check(reported == i, "slotIndex(of: slot \(i)) is \(reported)")
        }
        live.verifyAll("verify all")
    }

    func checkStatistics() {
        let stats = pool.statistics
        check(stats.inUse == live.count, "stats.inUse \(stats.inUse), shadow has \(live.count) live")
        check(stats.peakInUse >= stats.inUse, "stats.peakInUse \(stats.peakInUse) < inUse \(stats.inUse)")
        check(stats.publishedSlots <= pool.capacity, "publishedSlots \(stats.publishedSlots) > capacity")
        check(stats.capacity == pool.capacity, "stats.capacity \(stats.capacity)")
    }
}
