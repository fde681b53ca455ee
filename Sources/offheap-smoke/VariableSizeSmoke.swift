import OffHeap
import OffHeapWorkloads

/// Request sizes and alignments cycled through by the variable-size checks (all sizes hold a
/// full ``SlotPattern``).
let smokeSizes = [32, 48, 64, 100, 200, 256, 512, 1000]
let smokeAlignments = [8, 16, 8, 32, 8, 64, 16, 8]

/// The size and alignment of request `index`; with `largeEvery > 0`, every `largeEvery`-th
/// request asks for `largeSize` bytes instead (a slab pool's individually mapped blocks).
@inline(__always)
func smokeRequest(
    _ index: Int, largeEvery: Int = 0, largeSize: Int = 0
) -> (byteCount: Int, alignment: Int) {
    if largeEvery > 0, index % largeEvery == largeEvery - 1 { return (largeSize, 64) }
    return (smokeSizes[index % smokeSizes.count], smokeAlignments[index % smokeAlignments.count])
}

@inline(__always)
func blockPattern(_ cell: Int, _ owner: Int, _ round: Int) -> SlotPattern {
    SlotPattern(slot: UInt64(cell), owner: UInt64(owner), generation: UInt64(round) | 0x1_0000)
}

/// Size and alignment validation shared by every variable-size allocator: zero bytes,
/// impossible sizes and non-power-of-two alignments are typed errors, and the allocator
/// still serves a plain request afterwards.
///
/// `zeroSizeIsError: false` is for allocators that serve zero bytes like `malloc(0)`.
func smokeVariableSizeBadRequests<Pool: VariableSizeAllocator>(
    _ name: String, _ pool: Pool, zeroSizeIsError: Bool = true, report: SmokeReport
) {
    if zeroSizeIsError {
        report.expect(name + " zero size", .zeroSize) { () throws(OffHeapError) in
            _ = try pool.allocate(byteCount: 0, alignment: 8)
        }
    }
    report.expect(name + " oversized", .sizeTooLarge) { () throws(OffHeapError) in
        _ = try pool.allocate(byteCount: 1 << 50, alignment: 8)
    }
    report.expect(name + " alignment 24", .invalidAlignment) { () throws(OffHeapError) in
        _ = try pool.allocate(byteCount: 64, alignment: 24)
    }
    do throws(OffHeapError) {
        let block = try pool.allocate(byteCount: 64, alignment: 16)
        SlotPattern(slot: 1, owner: 2, generation: 3).write(to: block, byteCount: 64)
        report.count()
    } catch {
        report.failed(name + " usable after bad requests", error)
    }
}
