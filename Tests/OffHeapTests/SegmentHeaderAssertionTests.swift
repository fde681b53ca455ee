import Testing

@testable import OffHeap

#if canImport(Glibc)
    import Glibc
#endif

/// ``SegmentHeader``'s invariant (the header is written before the segment is published in
/// the registry) is asserted where a registry hit is turned into a segment. Debug builds
/// only: `assert` is compiled out at -O, so the release suite has nothing to check here.
@Suite("SegmentHeader assertions")
struct SegmentHeaderAssertionTests {
    #if DEBUG
        /// A registry hit whose header lost its magic stops a debug build (an exit test: the
        /// child process traps); the same lookup with the header intact returns the size.
        @Test(.enabled(
            if: !SizeClassHeapResidentMemoryTests.underSanitizer,
            "a sanitizer runtime would report the child's trap as an error of its own"))
        func registryHitOnASegmentWithoutItsMagicTrapsInDebugBuilds() async throws {
            await #expect(processExitsWith: .failure) {
                guard let heap = try? SizeClassHeap(), let block = try? heap.allocate(byteCount: 48)
                else { exit(0) }  // exit 0 fails the expectation: it must trap
                let base = UInt(bitPattern: block) & ~SegmentLayout.segmentMask
                let header = SegmentLayout.header(UnsafeMutableRawPointer(bitPattern: base)!)
                header.pointee.magic = 0
                _ = try? heap.usableSize(of: block)
                exit(0)
            }
            let heap = try SizeClassHeap()
            let block = try heap.allocate(byteCount: 48)
            #expect(try heap.usableSize(of: block) >= 48)
            try heap.deallocate(block)
        }
    #endif
}
