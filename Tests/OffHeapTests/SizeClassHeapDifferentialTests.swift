import OffHeap
import Testing
import OffHeapTestSupport

/// HeapTestRandom: a seeded, reproducible generator.
struct HeapTestRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= goldenGamma
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

@Suite("SizeClassHeap differential")
struct SizeClassHeapDifferentialTests {
    struct Live {
        var heap: UnsafeMutableRawPointer
        var system: UnsafeMutableRawPointer
        var byteCount: Int
    }

    /// The same random allocate / reallocate / free sequence runs on the heap and on the
    /// system allocator; after every step the touched block's bytes must agree.
    @Test(arguments: [1, 2, 3])
    func randomSequenceMatchesSystemAllocator(seed: UInt64) throws {
        let heap = try SizeClassHeap()
        var random = HeapTestRandom(state: seed)
        var live: [Live] = []
        func randomSize(_ random: inout HeapTestRandom) -> Int {
            switch random.below(100) {
            case 0: return 33_000 + random.below(100_000)
            case 1..<10: return 1024 + random.below(31_000)
            default: return random.below(1024)
            }
        }
        func scribble(_ entry: Live, _ random: inout HeapTestRandom) {
            guard entry.byteCount > 0 else { return }
            let stamp = UInt8(truncatingIfNeeded: random.next())
            for offset in stride(from: 0, to: entry.byteCount, by: 1 + entry.byteCount / 64) {
                entry.heap.storeBytes(of: stamp &+ UInt8(truncatingIfNeeded: offset),
                                      toByteOffset: offset, as: UInt8.self)
                entry.system.storeBytes(of: stamp &+ UInt8(truncatingIfNeeded: offset),
                                        toByteOffset: offset, as: UInt8.self)
            }
        }
        func same(_ entry: Live) -> Bool {
            var offset = 0
            while offset + 8 <= entry.byteCount {
                if entry.heap.load(fromByteOffset: offset, as: UInt64.self)
                    != entry.system.load(fromByteOffset: offset, as: UInt64.self)
                {
                    return false
                }
                offset += 8
            }
            for offset in offset..<entry.byteCount
            where entry.heap.load(fromByteOffset: offset, as: UInt8.self)
                != entry.system.load(fromByteOffset: offset, as: UInt8.self)
            {
                return false
            }
            return true
        }
        for _ in 0..<3000 {
            let operation = random.below(10)
            if operation < 5 || live.isEmpty {
                let size = randomSize(&random)
                let alignment = 1 << random.below(7)
                let block = try heap.allocate(byteCount: size, alignment: alignment)
                #expect(Int(bitPattern: block) % alignment == 0)
                #expect(try heap.usableSize(of: block) >= size)
                let system = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
                system.copyMemory(from: block, byteCount: size)  // unspecified bytes agree too
                let entry = Live(heap: block, system: system, byteCount: size)
                scribble(entry, &random)
                live.append(entry)
            } else if operation < 7 {
                let index = random.below(live.count)
                var entry = live[index]
                #expect(same(entry))
                let size = randomSize(&random)
                entry.heap = try heap.reallocate(entry.heap, byteCount: size)
                let system = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
                system.copyMemory(from: entry.system, byteCount: min(size, entry.byteCount))
                if size > entry.byteCount {
                    (system + entry.byteCount).copyMemory(
                        from: entry.heap + entry.byteCount, byteCount: size - entry.byteCount)
                }
                entry.system.deallocate()
                entry.system = system
                entry.byteCount = size
                #expect(same(entry))
                scribble(entry, &random)
                live[index] = entry
            } else {
                let index = random.below(live.count)
                let entry = live.remove(at: index)
                #expect(same(entry))
                try heap.deallocate(entry.heap)
                entry.system.deallocate()
            }
        }
        for entry in live {
            #expect(same(entry))
            try heap.deallocate(entry.heap)
            entry.system.deallocate()
        }
        #expect(heap.statistics.inUseBytes == 0)
        heap.trim()
        #expect(heap.statistics.committedBytes == 0)
    }
}
