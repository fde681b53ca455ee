@_spi(Testing) import OffHeap
import Synchronization
import Testing
import OffHeapTestSupport

@Suite("Arena.Local")
struct ArenaLocalTests {
    @Test func blocksAreAlignedDisjointAndCarvedFromOneChunk() throws {
        let arena = try Arena(capacity: 1 << 20)
        var local = try arena.makeLocal(chunkSize: 16 << 10)
        #expect(local.chunkSize == 16 << 10)
        #expect(local.remaining == 0)
        var entries: [LoggedBlock] = []
        var requested = 0
        for index in 0..<40 {
            let byteCount = 1 + (index * 29) % 200
            let alignment = 1 << (index % 9)  // 1 ... 256
            let block = try local.allocate(byteCount: byteCount, alignment: alignment)
            #expect(arena.contains(block))
            fillPattern(block, byteCount, seed: UInt64(index))
            entries.append(
                .init(address: UInt(bitPattern: block), byteCount: byteCount,
                      alignment: alignment, seed: UInt64(index)))
            requested += byteCount
        }
        #expect(verifyDisjointBlocks(entries) == 0)
        // All forty came out of one chunk: the arena saw a single claim.
        #expect(arena.used == 16 << 10)
        #expect(local.remaining <= (16 << 10) - requested)
        #expect(local.remaining >= 0)
        // Page alignment (the maximum) still works, from the chunk or from the arena.
        let page = try local.allocate(byteCount: 8, alignment: VirtualMemory.pageSize)
        #expect(Int(bitPattern: page) % VirtualMemory.pageSize == 0)
        // Typed helper: aligned for the type and bound.
        let values = try local.allocate(UInt64.self, count: 5)
        #expect(Int(bitPattern: values.baseAddress!) % MemoryLayout<UInt64>.alignment == 0)
        values.initialize(repeating: 7)
        #expect(values.reduce(0, +) == 35)
    }

    @Test func blocksFollowEachOtherInsideTheChunk() throws {
        let arena = try Arena(capacity: 1 << 16)
        var local = try arena.makeLocal(chunkSize: 4096)
        let a = try local.allocate(byteCount: 10, alignment: 1)
        let b = try local.allocate(byteCount: 10, alignment: 1)
        let c = try local.allocate(byteCount: 1, alignment: 16)
        #expect(b - a == 16)  // every block is rounded up to the granule
        #expect(c - a == 32)
        #expect(local.remaining == 4096 - 48)
    }

    @Test func badRequestsAreTypedErrorsAndTheViewStaysUsable() throws {
        let arena = try Arena(capacity: 1 << 16)
        #expect(throws: OffHeapError.invalidConfiguration(reason: "chunkSize must be positive")) {
            _ = try arena.makeLocal(chunkSize: 0)
        }
        var local = try arena.makeLocal(chunkSize: 1 << 30)
        #expect(local.chunkSize == arena.capacity)  // clamped
        local = try arena.makeLocal(chunkSize: 1000)
        #expect(local.chunkSize == 1008)  // rounded up to the granule
        _ = try local.allocate(byteCount: 8)
        let before = local.remaining
        var errors: [OffHeapError] = []
        for (byteCount, alignment) in [
            (0, 8), (-5, 8), (8, 0), (8, 3), (8, -16), (8, Int.min),
            (8, VirtualMemory.pageSize * 2), (arena.capacity + 1, 8), (Int.max, 8),
        ] {
            do throws(OffHeapError) {
                _ = try local.allocate(byteCount: byteCount, alignment: alignment)
            } catch {
                errors.append(error)
            }
        }
        #expect(
            errors.map(\.kind) == [
                .zeroSize, .sizeTooLarge, .invalidAlignment, .invalidAlignment, .invalidAlignment,
                .invalidAlignment, .invalidAlignment, .sizeTooLarge, .sizeTooLarge,
            ])
        #expect(local.remaining == before)
        #expect(throws: OffHeapError.zeroSize) { _ = try local.allocate(UInt32.self, count: 0) }
        #expect(throws: OffHeapError.sizeTooLarge(requested: Int.max, limit: arena.capacity)) {
            _ = try local.allocate(UInt64.self, count: Int.max / 4)
        }
        let p = try local.allocate(byteCount: 8)
        #expect(arena.contains(p))
    }

    @Test func requestLargerThanAChunkComesFromTheArenaAndKeepsTheChunk() throws {
        let arena = try Arena(capacity: 1 << 16)
        var local = try arena.makeLocal(chunkSize: 4096)
        let small = try local.allocate(byteCount: 100)
        let remaining = local.remaining
        let big = try local.allocate(byteCount: 10_000, alignment: 64)
        #expect(Int(bitPattern: big) % 64 == 0)
        #expect(big - small >= 4096)  // beyond the chunk
        #expect(local.remaining == remaining)
        #expect(arena.used == 4096 + 10_000)  // 10 000 is a multiple of the granule
        // Fits the chunk on size but not with the padding a large alignment needs.
        let aligned = try local.allocate(byteCount: 4096 - 64, alignment: 256)
        #expect(Int(bitPattern: aligned) % 256 == 0)
        let next = try local.allocate(byteCount: 16)
        #expect(next - small == 112)  // still the first chunk
    }

    @Test func exhaustionIsTypedAndTheArenasLastBytesStayUsable() throws {
        let arena = try Arena(capacity: 1 << 16)
        var local = try arena.makeLocal(chunkSize: 16 << 10)
        var blocks = 0
        var failure: OffHeapError?
        while failure == nil {
            do throws(OffHeapError) {
                _ = try local.allocate(byteCount: 1024)
                blocks += 1
            } catch {
                failure = error
            }
        }
        #expect(failure == .capacityExhausted(capacity: 1 << 16))
        #expect(blocks == 64)  // every byte of the arena, no chunk lost
        #expect(arena.remaining == 0)

        // A shared allocation leaves 60 KiB used: no whole chunk fits, the requests still do.
        try arena.reset()
        #expect(throws: OffHeapError.useAfterReset) { _ = try local.allocate(byteCount: 8) }
        _ = try arena.allocate(byteCount: 60 << 10)
        var tail = 0
        while (try? local.allocate(byteCount: 512)) != nil { tail += 1 }
        #expect(tail == 8)
        #expect(throws: OffHeapError.capacityExhausted(capacity: 1 << 16)) { _ = try local.allocate(byteCount: 1) }
    }

    @Test func resetIsDetectedOnTheNextAllocationThenTheViewRefills() throws {
        let arena = try Arena(capacity: 1 << 16)
        var local = try arena.makeLocal(chunkSize: 4096)
        let first = try local.allocate(byteCount: 64)
        #expect(local.remaining == 4096 - 64)
        try arena.reset()
        // The chunk still has room: only the generation check can refuse.
        #expect(throws: OffHeapError.useAfterReset) { _ = try local.allocate(byteCount: 64) }
        #expect(local.remaining == 0)  // the stale chunk is dropped
        let again = try local.allocate(byteCount: 64)
        #expect(again == first)  // the new generation starts at the arena's base
        #expect(arena.used == 4096)
        // A reset that happens while another view is idle is seen by it too.
        var other = try arena.makeLocal(chunkSize: 4096)
        _ = try other.allocate(byteCount: 16)
        try arena.reset(decommit: true)
        #expect(throws: OffHeapError.useAfterReset) { _ = try other.allocate(byteCount: 16) }
        #expect(throws: OffHeapError.useAfterReset) { _ = try local.allocate(byteCount: 16) }
    }

    @Test func allocationDuringAResetIsConcurrentReset() throws {
        let arena = try Arena(capacity: 1 << 16)
        let view = ArenaLocalBox(try arena.makeLocal(chunkSize: 4096))
        _ = try view.allocate(byteCount: 32)
        let fresh = ArenaLocalBox(try arena.makeLocal(chunkSize: 4096))
        var inside: [OffHeapError.Kind] = []
        try arena.reset(decommit: false) {
            for box in [view, fresh] {
                do throws(OffHeapError) {
                    _ = try box.allocate(byteCount: 32)
                } catch {
                    inside.append(error.kind)
                }
            }
        }
        // The view with a chunk and the empty one (its refill) are both refused.
        #expect(inside == [.concurrentReset, .concurrentReset])
        #expect(try view.allocate(byteCount: 32) == fresh.allocate(byteCount: 32) - 4096)
    }

    @Test func aViewIdleAcrossAGenerationWrapStillSeesTheReset() throws {
        let arena = try Arena(capacity: 1 << 16)
        var local = try arena.makeLocal(chunkSize: 4096)
        _ = try local.allocate(byteCount: 16)
        let generation = arena.generation
        for _ in 0..<(1 << 15) { try arena.reset() }
        #expect(arena.generation == generation)  // the 15-bit generation wrapped
        _ = try arena.allocate(byteCount: 1024)  // someone else's block at the base
        #expect(throws: OffHeapError.useAfterReset) { _ = try local.allocate(byteCount: 16) }
    }

    @Test func concurrentLocalViewsAcross8ThreadsAreDisjointAndKeepTheirPatterns() throws {
        let arena = try Arena(capacity: 8 << 20)
        // Checked by this (non-worker) thread after join: no overlap across threads, every
        // pattern intact, and inside the arena.
        let log = try allocateConcurrentlyAndVerify(
            threads: 8, perThread: 600, request: mixedRequests(upTo: 300, alignmentShifts: 8),
            allocator: { _ in
                // Each worker's own view; small chunks: many refills race on the arena's state word.
                ArenaLocalBox(try arena.makeLocal(chunkSize: 2048)).allocate(byteCount:alignment:)
            })
        #expect(log.all.allSatisfy { arena.contains(UnsafeRawPointer(bitPattern: $0.address)!) })
    }
}

/// Holds a view so a test can use it inside the non-escaping `whileExclusive` closure, or
/// hand it to one worker as a function.
final class ArenaLocalBox {
    var local: Arena.Local
    init(_ local: consuming Arena.Local) { self.local = local }
    func allocate(byteCount: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        try local.allocate(byteCount: byteCount)
    }
    func allocate(byteCount: Int, alignment: Int) throws(OffHeapError) -> UnsafeMutableRawPointer {
        try local.allocate(byteCount: byteCount, alignment: alignment)
    }
}
