@_spi(Testing) import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

@Suite("Arena")
struct ArenaTests {
    @Test func allocatesAlignedBlocksInOrder() throws {
        let arena = try Arena(capacity: 1 << 16)
        #expect(arena.capacity == 1 << 16)
        #expect(arena.remaining == 1 << 16)
        let a = try arena.allocate(byteCount: 3, alignment: 1)
        let b = try arena.allocate(byteCount: 8, alignment: 64)
        #expect(Int(bitPattern: b) % 64 == 0)
        #expect(b - a >= 3)
        #expect(arena.used == (b - a) + Arena.granule)  // every block rounds up to 16
        #expect(arena.remaining == arena.capacity - arena.used)
        let page = try arena.allocate(byteCount: 1, alignment: VirtualMemory.pageSize)
        #expect(Int(bitPattern: page) % VirtualMemory.pageSize == 0)
    }

    @Test func typedHelperBindsAlignedBuffer() throws {
        let arena = try Arena(capacity: 1 << 16)
        _ = try arena.allocate(byteCount: 1, alignment: 1)
        let values = try arena.allocate(UInt64.self, count: 100)
        #expect(values.count == 100)
        #expect(Int(bitPattern: values.baseAddress!) % MemoryLayout<UInt64>.alignment == 0)
        for index in values.indices { values[index] = UInt64(index) * 3 }
        let sum: UInt64 = values.reduce(0, +)
        let expected: UInt64 = 3 * (99 * 100 / 2)
        #expect(sum == expected)
        let single = try arena.allocate(SIMD4<Float>.self)
        #expect(single.count == 1)
        #expect(Int(bitPattern: single.baseAddress!) % 16 == 0)
        #expect(throws: OffHeapError.zeroSize) { _ = try arena.allocate(UInt32.self, count: 0) }
        #expect(throws: OffHeapError.self) { _ = try arena.allocate(UInt64.self, count: Int.max / 2) }
    }

    @Test func configurationIsKeptAndCapacityRoundedToPages() throws {
        let arena = try Arena(configuration: .init(capacity: 5000, hugePages: .none))
        #expect(arena.configuration == Arena.Configuration(capacity: 5000))
        #expect(arena.capacity == VirtualMemory.roundUp(5000, to: VirtualMemory.pageSize))
        let pool = try SlabPool(configuration: .init(slabSize: 5000, maximumSlabs: 3))
        #expect(pool.configuration == SlabPool.Configuration(slabSize: 5000, maximumSlabs: 3))
        #expect(pool.slabSize == VirtualMemory.roundUp(5000, to: VirtualMemory.pageSize))
        #expect(pool.maximumSlabs == 3)
    }

    @Test func badRequestsAreTypedErrorsAndChangeNothing() throws {
        let arena = try Arena(capacity: 8192)
        #expect(throws: OffHeapError.zeroSize) { _ = try arena.allocate(byteCount: 0) }
        #expect(throws: OffHeapError.sizeTooLarge(requested: -5, limit: 8192)) {
            _ = try arena.allocate(byteCount: -5)
        }
        #expect(throws: OffHeapError.sizeTooLarge(requested: -16, limit: 8192)) {
            _ = try arena.allocate(UInt64.self, count: -2)
        }
        #expect(throws: OffHeapError.sizeTooLarge(requested: 8193, limit: 8192)) {
            _ = try arena.allocate(byteCount: 8193)
        }
        for alignment in [0, -8, 3, 24, VirtualMemory.pageSize * 2] {
            #expect(throws: OffHeapError.invalidAlignment(alignment)) {
                _ = try arena.allocate(byteCount: 8, alignment: alignment)
            }
        }
        #expect(arena.used == 0)
        _ = try arena.allocate(byteCount: 8192, alignment: 8)
        #expect(arena.remaining == 0)
    }

    @Test func badConfigurationIsATypedError() {
        #expect(throws: OffHeapError.invalidConfiguration(reason: "capacity must be positive")) {
            _ = try Arena(capacity: 0)
        }
        #expect(throws: OffHeapError.self) { _ = try Arena(capacity: Arena.maximumCapacity + 1) }
    }

    @Test func exhaustionIsTypedAndResetMakesItUsable() throws {
        let arena = try Arena(capacity: 4096)
        var blocks: [UnsafeMutableRawPointer] = []
        while true {
            do throws(OffHeapError) {
                blocks.append(try arena.allocate(byteCount: 100, alignment: 4))
            } catch {
                #expect(error == .capacityExhausted(capacity: 4096))
                break
            }
        }
        // 100 bytes round up to 112: 36 blocks, back to back.
        #expect(blocks.count == 4096 / 112)
        for (index, block) in blocks.enumerated() { #expect(block == blocks[0] + 112 * index) }
        // The fast path's overshoot forfeits the 64-byte tail (sticky exhaustion)...
        #expect(arena.remaining == 0)
        #expect(throws: OffHeapError.capacityExhausted(capacity: 4096)) { _ = try arena.allocate(byteCount: 1, alignment: 1) }
        let generation = arena.generation
        try arena.reset()
        #expect(arena.generation == generation + 1)
        #expect(arena.remaining == 4096)
        let again = try arena.allocate(byteCount: 100, alignment: 4)
        #expect(again == blocks[0])
        let stats = arena.statistics
        #expect(stats == Arena.Statistics(capacity: 4096, used: 112, peak: 4096, resets: 1))
    }

    @Test func compareExchangePathLeavesTheArenaUntouchedWhenARequestDoesNotFit() throws {
        let arena = try Arena(capacity: 64 << 10)
        let first = try arena.allocate(byteCount: 40 << 10, alignment: 8)  // > fastPathLimit
        #expect(throws: OffHeapError.capacityExhausted(capacity: 64 << 10)) { _ = try arena.allocate(byteCount: 30 << 10) }
        #expect(arena.remaining == 24 << 10)
        let second = try arena.allocate(byteCount: 20 << 10, alignment: 256)
        #expect(second == first + (40 << 10))
        // Alignment above the granule pads from the current offset.
        _ = try arena.allocate(byteCount: 16, alignment: 16)
        let aligned = try arena.allocate(byteCount: 16, alignment: 1024)
        #expect(Int(bitPattern: aligned) % 1024 == 0)
        #expect(aligned == first + (61 << 10))
    }

    @Test func resetWithDecommitZeroesTheUsedPages() throws {
        let arena = try Arena(capacity: 1 << 16)
        let block = try arena.allocate(byteCount: 3 * 4096 + 10, alignment: 8)
        fillPattern(block, 3 * 4096 + 10, seed: 7)
        try arena.reset(decommit: true)
        let again = try arena.allocate(byteCount: 3 * 4096 + 10, alignment: 8)
        #expect(again == block)
        #expect(again.load(as: UInt64.self) == 0)
        #expect(again.load(fromByteOffset: 3 * 4096, as: UInt64.self) == 0)
    }

    @Test func deallocateIsANoOpForOwnBlocksAndRejectsOthers() throws {
        let arena = try Arena(capacity: 1 << 16)
        let other = try Arena(capacity: 1 << 16)
        let block = try arena.allocate(byteCount: 64)
        let foreign = try other.allocate(byteCount: 64)
        try arena.deallocate(block)
        try arena.deallocate(block)  // bulk-free arena: a no-op, twice is fine
        #expect(arena.used == 64)
        #expect(throws: OffHeapError.foreignPointer) { try arena.deallocate(foreign) }
        var local = 0
        _ = withUnsafeMutablePointer(to: &local) { pointer in
            #expect(throws: OffHeapError.foreignPointer) {
                try arena.deallocate(UnsafeMutableRawPointer(pointer))
            }
        }
        // Beyond the bump offset: no live block starts there.
        #expect(throws: OffHeapError.useAfterReset) { try arena.deallocate(block + 4096) }
        try arena.reset()
        #expect(throws: OffHeapError.useAfterReset) { try arena.deallocate(block) }
        _ = try arena.allocate(byteCount: 64)
        try arena.deallocate(block)
    }

    @Test func resetGuardRejectsConcurrentUseWhileResetting() throws {
        let arena = try Arena(capacity: 1 << 16)
        let block = try arena.allocate(byteCount: 256)
        fillPattern(block, 256, seed: 1)
        var insideErrors: [OffHeapError?] = []
        let fromOtherThreads = Atomic<Int>(0)
        try arena.reset(decommit: false) {
            do throws(OffHeapError) {
                _ = try arena.allocate(byteCount: 8)
                insideErrors.append(nil)
            } catch {
                insideErrors.append(error)
            }
            do throws(OffHeapError) {
                try arena.reset()
                insideErrors.append(nil)
            } catch {
                insideErrors.append(error)
            }
            // Eight other threads see the same typed error while the reset holds the arena.
            try? PlatformThread.run(count: 8) { _ in
                do throws(OffHeapError) { _ = try arena.allocate(byteCount: 8) } catch {
                    if error == .concurrentReset { fromOtherThreads.add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(insideErrors == [.concurrentReset, .concurrentReset])
        #expect(fromOtherThreads.load(ordering: .relaxed) == 8)
        #expect(arena.statistics.resets == 1)
        #expect(try arena.allocate(byteCount: 8) == block)
    }

    @Test func concurrentAllocationsAcross8ThreadsAreDisjointAndKeepTheirPatterns() throws {
        let arena = try Arena(capacity: 8 << 20)
        // Checked by this (non-worker) thread after join: no overlap, every pattern intact.
        let entries = try allocateConcurrentlyAndVerify(
            threads: 8, perThread: 700, request: mixedRequests(upTo: 160, alignmentShifts: 7),
            allocator: { _ in arena.allocate(byteCount:alignment:) }
        ).all
        let total = entries.reduce(0) { $0 + $1.byteCount }
        #expect(arena.used >= total)
        for entry in entries {
            #expect(arena.contains(UnsafeRawPointer(bitPattern: entry.address)!))
        }
    }

    @Test func concurrentAllocationUntilExhaustedThenReset() throws {
        let threads = 8
        let arena = try Arena(capacity: 64 << 10)
        let log = ThreadRows<LoggedBlock>(threads: threads, rowsPerThread: 4096)
        let unexpected = Atomic<Int>(0)
        for round in 0..<3 {
            try PlatformThread.run(count: threads) { thread in
                var index = 0
                while true {
                    let byteCount = 8 + (index * 13 + thread) % 120
                    let seed = UInt64(round) << 48 | UInt64(thread) << 32 | UInt64(index)
                    do throws(OffHeapError) {
                        let block = try arena.allocate(byteCount: byteCount, alignment: 8)
                        log.appendPatterned(
                            thread: thread, block, byteCount: byteCount, alignment: 8, seed: seed)
                    } catch {
                        if error != .capacityExhausted(capacity: 64 << 10) { unexpected.add(1, ordering: .relaxed) }
                        break
                    }
                    index += 1
                }
            }
            #expect(unexpected.load(ordering: .relaxed) == 0)
            let entries = log.all
            #expect(verifyDisjointBlocks(entries) == 0)
            // Every thread stopped at a failed fast-path request, which pulls the offset
            // back to exactly `capacity`: nothing overshoots, nothing is left over.
            #expect(arena.remaining == 0)
            #expect(arena.used == arena.capacity)
            log.removeAll()
            try arena.reset()
        }
        #expect(arena.statistics.resets == 3)
        #expect(arena.statistics.peak == 64 << 10)
    }

    @Test func concurrentResetsAndAllocationsOnlyFailWithTypedErrors() throws {
        let arena = try Arena(capacity: 16 << 10)
        let race = try raceResetsAgainstAllocations(
            steps: 400, resetEvery: 8, reset: { _ in try arena.reset() },
            allocate: { _ in _ = try arena.allocate(byteCount: 64, alignment: 16) })
        #expect(race.unexpected == 0)
        #expect(arena.statistics.resets == race.resets)
        try arena.reset()
        #expect(arena.remaining == arena.capacity)
    }
}
