@testable import OffHeap
import Synchronization
import Testing

@Suite("GenerationTable")
struct GenerationTableTests {
    /// A table of `rows` rows of 32 bytes in its own mapping, released by the caller.
    static func table(rows: Int) throws -> (GenerationTable, VirtualRegion) {
        let region = try VirtualMemory.reserve(byteCount: rows * 32, committed: true)
        return (GenerationTable(rows: region.base, rowCount: rows, rowBytes: 32), region)
    }

    /// Claims take free rows in order, publish their payload before returning, and stop
    /// when every row is claimed; a retired row is claimed again with the next generation,
    /// and the old generation can neither pin nor retire it.
    @Test func claimPinRetireAndReuse() throws {
        let (table, region) = try Self.table(rows: 3)
        defer { try? VirtualMemory.release(region) }
        var published: [Int] = []
        var claims: [(row: Int, generation: UInt32)] = []
        for _ in 0..<3 {
            let claimed = table.claim { row in
                published.append(row)
                table.storePointer(region.base + 1000 + row, row, 1)
            }
            let claim = try #require(claimed)
            claims.append(claim)
        }
        #expect(claims.map(\.row) == [0, 1, 2])
        #expect(claims.map(\.generation) == [1, 1, 1])
        #expect(published == [0, 1, 2])
        #expect(table.claim { _ in } == nil, "every row is claimed")

        #expect(table.pin(1, generation: 1))
        #expect(table.pointer(1, 1) == region.base + 1001)
        #expect(!table.pin(1, generation: 2), "a generation that was never claimed")
        table.unpin(1)

        #expect(table.retire(1, generation: 1))
        #expect(!table.pin(1, generation: 1), "retired")
        let again = try #require(table.claim { _ in })
        #expect(again.row == 1 && again.generation == 2)
        let staleBefore = GenerationTable.staleRetires.load(ordering: .relaxed)
        #expect(!table.retire(1, generation: 1), "the old claim's retire")
        #expect(GenerationTable.staleRetires.load(ordering: .relaxed) >= staleBefore + 1)
        #expect(table.pin(1, generation: 2), "the new claim is untouched")
        table.unpin(1)
    }

    /// A generation that wraps skips 0 (0 marks "no stamp" in per-thread entries).
    @Test func generationNeverZero() throws {
        let (table, region) = try Self.table(rows: 1)
        defer { try? VirtualMemory.release(region) }
        table.state(0).pointee.store(UInt64(UInt32.max) << 32, ordering: .relaxed)
        let claim = try #require(table.claim { _ in })
        #expect(claim.generation == 1)
    }

    /// A pinned row cannot be claimed while its owner's retire waits for the pin.
    @Test func pinnedRowIsNotClaimed() throws {
        let (table, region) = try Self.table(rows: 1)
        defer { try? VirtualMemory.release(region) }
        let claim = try #require(table.claim { _ in })
        #expect(table.pin(0, generation: claim.generation))
        let retired = Atomic<Bool>(false)
        let retirer = try PlatformThread {
            table.retire(0, generation: claim.generation)
            retired.store(true, ordering: .releasing)
        }
        // Until the pin goes, retire has not returned and the row is not free.
        PlatformThread.sleep(nanoseconds: 20_000_000)
        let retiredWhilePinned = retired.load(ordering: .acquiring)
        #expect(!retiredWhilePinned)
        #expect(table.claim { _ in } == nil)
        table.unpin(0)
        retirer.join()
        let retiredAfterUnpin = retired.load(ordering: .acquiring)
        #expect(retiredAfterUnpin)
        #expect(table.claim { _ in }?.generation == claim.generation + 1)
    }

    /// The invariant under contention: 4 threads pin, use the owner's memory (the payload)
    /// and unpin, while owners claim, publish, retire and then poison their memory. Once
    /// `retire` returns nobody may still be inside: a thread that sees poison while pinned,
    /// or a payload from another claim, counts a violation. (Without the wait for pins in
    /// `retire`, or with the payload stored after the claim became visible, this fails.)
    @Test func retireWaitsForEveryPinAcrossThreads() throws {
        let rows = 4
        let (table, region) = try Self.table(rows: rows)
        defer { try? VirtualMemory.release(region) }
        // One owner buffer of two words per claim (row, generation): word 0 = the
        // generation, word 1 = 0 alive / 1 poisoned. Never reused, so a late poison of an
        // old claim cannot land on a live one.
        let owners = 2, cyclesPerOwner = 150, generations = owners * cyclesPerOwner + 2
        let buffers = try VirtualMemory.reserve(byteCount: rows * generations * 16, committed: true)
        defer { try? VirtualMemory.release(buffers) }
        @Sendable func owner(_ row: Int, _ generation: UInt32) -> UnsafeMutablePointer<Atomic<UInt64>> {
            (buffers.base + (row * generations + Int(generation)) * 16)
                .assumingMemoryBound(to: Atomic<UInt64>.self)
        }
        for index in 0..<(rows * generations * 2) {
            (buffers.base + index * 8).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
                .initialize(to: Atomic(0))
        }
        let violations = Atomic<Int>(0)
        let pins = Atomic<Int>(0)
        let cycles = Atomic<Int>(0)
        try PlatformThread.run(count: owners + 4) { worker in
            if worker < owners {
                var done = 0
                while done < cyclesPerOwner {
                    guard let claim = table.claim({ _ in }) else { PlatformThread.yield(); continue }
                    let memory = owner(claim.row, claim.generation)
                    // Alive first, then the generation (release): a pinner that sees this
                    // claim's generation sees it alive.
                    (memory + 1).pointee.store(0, ordering: .relaxed)
                    memory.pointee.store(UInt64(claim.generation), ordering: .releasing)
                    table.storePointer(UnsafeRawPointer(memory), claim.row, 1)
                    for _ in 0..<5 { PlatformThread.yield() }
                    table.retire(claim.row, generation: claim.generation)
                    (memory + 1).pointee.store(1, ordering: .relaxed)
                    done += 1
                    cycles.add(1, ordering: .relaxed)
                }
                return
            }
            // Pinners: try every row with the generation its state shows.
            while cycles.load(ordering: .relaxed) < owners * cyclesPerOwner {
                for row in 0..<rows {
                    let state = table.state(row).pointee.load(ordering: .acquiring)
                    let generation = UInt32(truncatingIfNeeded: state >> 32)
                    guard generation != 0, table.pin(row, generation: generation) else { continue }
                    if let raw = table.pointer(row, 1) {
                        let memory = raw.assumingMemoryBound(to: Atomic<UInt64>.self)
                        // The payload may still be an earlier claim's (it is published after
                        // the claim here): only this claim's memory must be alive.
                        if memory.pointee.load(ordering: .acquiring) == UInt64(generation),
                            (memory + 1).pointee.load(ordering: .relaxed) != 0
                        {
                            violations.add(1, ordering: .relaxed)
                        }
                    }
                    pins.add(1, ordering: .relaxed)
                    table.unpin(row)
                }
            }
        }
        #expect(cycles.load(ordering: .relaxed) == owners * cyclesPerOwner)
        #expect(pins.load(ordering: .relaxed) > 0)
        #expect(violations.load(ordering: .relaxed) == 0)
        for row in 0..<rows {
            #expect(table.state(row).pointee.load(ordering: .relaxed) & GenerationTable.pinMask == 0)
        }
    }
}
