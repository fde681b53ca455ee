import OffHeap
import Testing

@Suite("VirtualMemory")
struct VirtualMemoryTests {
    @Test func pageSizeIsAPowerOfTwo() {
        let size = VirtualMemory.pageSize
        #expect(size >= 4096)
        #expect(size & (size - 1) == 0)
    }

    @Test func alignedReservationIsAligned() throws {
        for alignment in [1 << 16, 1 << 22, 1 << 24] {
            let region = try VirtualMemory.reserve(byteCount: 3 * 4096, alignment: alignment)
            #expect(Int(bitPattern: region.base) % alignment == 0)
            #expect(region.byteCount == 3 * 4096)
            try VirtualMemory.commit(region.base, byteCount: region.byteCount)
            region.base.storeBytes(of: 0xABCD, toByteOffset: 8192, as: UInt64.self)
            #expect(region.base.load(fromByteOffset: 8192, as: UInt64.self) == 0xABCD)
            try VirtualMemory.release(region)
        }
    }

    @Test func decommitDontNeedZeroesPages() throws {
        let region = try VirtualMemory.reserve(byteCount: 1 << 16, committed: true)
        defer { try? VirtualMemory.release(region) }
        region.base.storeBytes(of: 0xFEED, as: UInt64.self)
        try VirtualMemory.decommit(region.base, byteCount: region.byteCount, mode: .dontNeed)
        #expect(region.base.load(as: UInt64.self) == 0)
        region.base.storeBytes(of: 1, as: UInt64.self)
        #expect(region.base.load(as: UInt64.self) == 1)
    }

    @Test func mmapFailureIsATypedError() {
        #expect(throws: OffHeapError.self) {
            _ = try VirtualMemory.reserve(byteCount: 1 << 55, committed: true, populate: false)
        }
        #expect(throws: OffHeapError.sizeTooLarge(requested: 1 << 60, limit: 1 << 56)) {
            _ = try VirtualMemory.reserve(byteCount: 1 << 60)
        }
        #expect(throws: OffHeapError.zeroSize) { _ = try VirtualMemory.reserve(byteCount: 0) }
        #expect(throws: OffHeapError.invalidAlignment(3 << 20)) {
            _ = try VirtualMemory.reserve(byteCount: 4096, alignment: 3 << 20)
        }
    }

    @Test func misalignedRangesAreRejected() throws {
        let region = try VirtualMemory.reserve(byteCount: 1 << 16, committed: true)
        defer { try? VirtualMemory.release(region) }
        #expect(throws: OffHeapError.misalignedPointer) {
            try VirtualMemory.decommit(region.base + 1, byteCount: 4096)
        }
    }

    @Test func hugePageHintFallsBack() throws {
        // MAP_HUGETLB fails without reserved huge pages; the reservation must still succeed.
        let region = try VirtualMemory.reserve(
            byteCount: 4 << 20, alignment: 2 << 20, committed: true, hugePages: .explicit)
        defer { try? VirtualMemory.release(region) }
        region.base.storeBytes(of: 9, as: UInt64.self)
        #expect(region.base.load(as: UInt64.self) == 9)
    }
}
