import COffHeapShims
import Synchronization
import Testing

@testable import OffHeap

/// Aligned reservations at a hinted address (VirtualMemory+AlignedHint.swift): the hint
/// only saves system calls, so every property is checked on the result, hint or not.
@Suite("VirtualMemory aligned hint")
struct VirtualMemoryAlignedHintTests {
    /// 48 aligned reservations of assorted sizes: each aligned, usable to its last byte and
    /// disjoint from the others; on this machine (47-bit VA, no sanitizer moving the
    /// layout) the hint serves them.
    @Test func alignedReservationsAreAlignedDisjointAndUsable() throws {
        let alignment = 4 << 20
        let hintedBefore = VirtualMemory.hintedReservations.load(ordering: .relaxed)
        let enabledBefore = VirtualMemory.hintsEnabled
        var regions: [VirtualRegion] = []
        defer { for region in regions { try? VirtualMemory.release(region) } }
        for index in 0..<48 {
            let bytes = 4096 * (1 + (index * 37) % 700)  // 4 KiB … 2.8 MiB
            let region = try VirtualMemory.reserve(byteCount: bytes, alignment: alignment, committed: true)
            #expect(UInt(bitPattern: region.base) % UInt(alignment) == 0)
            region.base.storeBytes(of: UInt64(index), as: UInt64.self)
            (region.base + region.byteCount - 8).storeBytes(of: ~UInt64(index), as: UInt64.self)
            regions.append(region)
        }
        let sorted = regions.sorted { $0.base < $1.base }
        for (lower, upper) in zip(sorted, sorted.dropFirst()) {
            #expect(lower.base + lower.byteCount <= upper.base, "overlapping reservations")
        }
        for (index, region) in regions.enumerated() {
            #expect(region.base.load(as: UInt64.self) == UInt64(index))
            #expect((region.base + region.byteCount - 8).load(as: UInt64.self) == ~UInt64(index))
        }
        if enabledBefore && !SizeClassHeapResidentMemoryTests.underSanitizer {
            #expect(VirtualMemory.hintedReservations.load(ordering: .relaxed) > hintedBefore)
        }
    }

    /// A mapping already at the next hint is never replaced: the reservation falls back (or
    /// takes a later hint), stays aligned, does not overlap it, and its contents survive.
    @Test func aTakenHintIsNeverReplaced() throws {
        let alignment = 4 << 20
        // Make sure the window's start is chosen.
        try VirtualMemory.release(VirtualMemory.reserve(byteCount: 4096, alignment: alignment))
        let next = VirtualMemory.hintNext.load(ordering: .relaxed)
        let target = (next + UInt(alignment - 1)) & ~UInt(alignment - 1)
        guard
            let blocker = offheap_mmap_anonymous(
                UnsafeMutableRawPointer(bitPattern: target), alignment, OFFHEAP_PROT_READ_WRITE,
                Int32(OFFHEAP_MAP_FIXED_NOREPLACE))
        else {
            // Taken already (another test's reservation): nothing to block with.
            return
        }
        defer { _ = offheap_munmap(blocker, alignment) }
        blocker.initializeMemory(as: UInt8.self, repeating: 0x5A, count: alignment)
        let region = try VirtualMemory.reserve(byteCount: alignment, alignment: alignment, committed: true)
        defer { try? VirtualMemory.release(region) }
        #expect(UInt(bitPattern: region.base) % UInt(alignment) == 0)
        let disjoint = region.base + region.byteCount <= blocker || blocker + alignment <= region.base
        #expect(disjoint)
        region.base.initializeMemory(as: UInt8.self, repeating: 0xA5, count: region.byteCount)
        let bytes = UnsafeBufferPointer(start: blocker.assumingMemoryBound(to: UInt8.self), count: alignment)
        #expect(bytes.allSatisfy { $0 == 0x5A })
    }
}
