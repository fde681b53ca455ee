import OffHeap

/// `ShardedFreeList` (checked) against its shadow, from one thread: every slot is live or
/// free, a free of a non-live slot start is `.doubleFree`, the calling thread's magazine
/// never holds more than `magazineSize` slots, and allocation fails only with every slot live.
///
/// Input: 4 configuration bytes (slot size, alignment, capacity, magazine size), then
/// one operation per byte with its operands in the following bytes.
func fuzzShardedFreeList(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let configuration = ShardedFreeList.Configuration(
        slotSize: 8 + input.pick(200), slotAlignment: 1 << input.pick(7),
        capacity: 1 + input.pick(300), magazineSize: 2 + input.pick(40))
    let pool = expectSuccess("ShardedFreeList(\(configuration))") { () throws(OffHeapError) in
        try ShardedFreeList(configuration: configuration)
    }
    var shadow = ShardedShadow(pool: pool)
    shadow.run(&input)
}

struct ShardedShadow {
    let pool: ShardedFreeList
    let stride: Int
    var base: UnsafeMutableRawPointer?
    var isLive: [Bool]
    var live = LiveSet()

    init(pool: ShardedFreeList) {
        self.pool = pool
        stride = pool.configuration.slotStride
        isLive = Array(repeating: false, count: pool.capacity)
    }

    /// The slot start of index `i` (known once one slot has been seen: the slots are one
    /// run at `base + i * stride`).
    func slot(_ i: Int) -> UnsafeMutableRawPointer? { base.map { $0 + i * stride } }

    mutating func run(_ input: inout FuzzInput) {
        while !input.isAtEnd {
            switch input.pick(9) {
            case 0, 1, 2: allocate()
            case 3, 4: freeLive(input.word())
            case 5: freeNotLive(input.word())
            case 6: freeInside(input.word(), offset: input.word())
            case 7: freeForeign(input.byte())
            default:
                if input.pick(3) == 0 { flush() } else { rewrite(input.word()) }
            }
            checkStatistics()
        }
        while !live.isEmpty { freeLive(0) }
        flush()
    }

    mutating func allocate() {
        if live.count == pool.capacity {
            expectError(.capacityExhausted(capacity: pool.capacity), "allocate with all slots live") {
                () throws(OffHeapError) in try pool.allocate()
            }
            return
        }
        let p = expectSuccess("allocate with \(live.count) of \(pool.capacity) live") {
            () throws(OffHeapError) in try pool.allocate()
        }
        if base == nil {
            // The first live slot: walk down one stride at a time; every slot start below it
            // is free (`.doubleFree`) until the walk leaves the pool (`.foreignPointer`).
            var lowest = p
            for _ in 0..<pool.capacity {
                var answer: OffHeapError?
                do { try pool.deallocate(lowest - stride) } catch { answer = error }
                if answer == .foreignPointer { break }
                check(answer == .doubleFree,
                    "deallocate(free slot below the first live one) gave \(String(describing: answer))")
                lowest -= stride
            }
            base = lowest
            check(Int(bitPattern: lowest) % 4096 == 0, "slot 0 at \(lowest) is not page-aligned")
        }
        guard let base else { return }
        let delta = p - base
        check(delta >= 0 && delta % stride == 0, "allocate returned \(p), not a slot start")
        check(Int(bitPattern: p) % pool.slotAlignment == 0, "allocate returned misaligned \(p)")
        let i = delta / stride
        check(i < pool.capacity, "allocate returned slot \(i) beyond capacity")
        check(!isLive[i], "allocate handed out live slot \(i) twice")
        isLive[i] = true
        live.add(p, byteCount: stride)
    }

    mutating func freeLive(_ choice: Int) {
        guard !live.isEmpty, let base else { return }
        let block = live.remove(at: choice % live.count)
        block.verify("free of a live slot")
        expectSuccess("deallocate(live \(block.pointer))") { () throws(OffHeapError) in
            try pool.deallocate(block.pointer)
        }
        isLive[(block.pointer - base) / stride] = false
    }

    mutating func freeNotLive(_ choice: Int) {
        let i = choice % pool.capacity
        guard !isLive[i], let p = slot(i) else { return }
        expectError(.doubleFree, "deallocate(free slot \(i))") { () throws(OffHeapError) in
            try pool.deallocate(p)
        }
    }

    mutating func freeInside(_ choice: Int, offset: Int) {
        guard stride > 1, let p = slot(choice % pool.capacity) else { return }
        let k = 1 + offset % (stride - 1)
        let expected: OffHeapError = k % pool.slotAlignment != 0 ? .misalignedPointer : .interiorPointer
        expectError(expected, "deallocate(slot + \(k)), stride \(stride)") { () throws(OffHeapError) in
            try pool.deallocate(p + k)
        }
    }

    mutating func freeForeign(_ choice: UInt8) {
        var pointer = ForeignMemory.pointer(choice)
        if let base, choice & 1 == 1 {
            pointer = choice & 2 == 0 ? base + pool.capacity * stride : base - stride
        }
        expectError(.foreignPointer, "deallocate(foreign \(pointer))") { () throws(OffHeapError) in
            try pool.deallocate(pointer)
        }
    }

    mutating func flush() {
        pool.flushCallingThreadCache()
        var cached = 0
        pool.forEachThreadOccupancy { cached += $0 }
        check(cached == 0, "\(cached) slots cached after flushCallingThreadCache (one thread)")
    }

    mutating func rewrite(_ choice: Int) { live.verifyAndRewrite(choosing: choice) }

    func checkStatistics() {
        let stats = pool.statistics
        check(stats.cachedSlots <= pool.configuration.magazineSize,
            "\(stats.cachedSlots) slots cached, magazine holds \(pool.configuration.magazineSize)")
        check(stats.cachedSlots <= pool.capacity - live.count,
            "\(stats.cachedSlots) slots cached with \(live.count) of \(pool.capacity) live")
    }
}
