// XCTest twins of a few core tests. They exist because valgrind cannot run Swift Testing:
// the matrix's valgrind cell runs these one by one, e.g.
//   valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
//     .build/debug/swift-offheapPackageTests.xctest OffHeapXCTests.VirtualMemoryXCTests/testCommitWriteRelease
// Keep them small, deterministic and free of Swift Testing.
import OffHeap
import XCTest
import OffHeapTestSupport

final class VirtualMemoryXCTests: XCTestCase {
    func testCommitWriteRelease() throws {
        let page = VirtualMemory.pageSize
        let region = try VirtualMemory.reserve(byteCount: 4 * page, alignment: 1 << 16)
        XCTAssertEqual(Int(bitPattern: region.base) % (1 << 16), 0)
        try VirtualMemory.commit(region.base, byteCount: region.byteCount)
        let words = region.byteCount / MemoryLayout<UInt64>.stride
        let typed = region.base.bindMemory(to: UInt64.self, capacity: words)
        for index in 0..<words { typed[index] = UInt64(index) &* goldenGamma }
        for index in 0..<words { XCTAssertEqual(typed[index], UInt64(index) &* goldenGamma) }
        try VirtualMemory.release(region)
    }

    func testDecommitDontNeedZeroesAndStaysWritable() throws {
        let region = try VirtualMemory.reserve(byteCount: 1 << 16, committed: true)
        defer { try? VirtualMemory.release(region) }
        region.base.storeBytes(of: 0xFEED, as: UInt64.self)
        try VirtualMemory.decommit(region.base, byteCount: region.byteCount, mode: .dontNeed)
        XCTAssertEqual(region.base.load(as: UInt64.self), 0)
        region.base.storeBytes(of: 7, as: UInt64.self)
        XCTAssertEqual(region.base.load(as: UInt64.self), 7)
    }

    func testBadInputThrowsTypedErrors() throws {
        XCTAssertThrowsError(try VirtualMemory.reserve(byteCount: 0)) { error in
            XCTAssertEqual(error as? OffHeapError, .zeroSize)
        }
        XCTAssertThrowsError(try VirtualMemory.reserve(byteCount: 4096, alignment: 3 << 20)) { error in
            XCTAssertEqual((error as? OffHeapError)?.kind, OffHeapError.invalidAlignment(0).kind)
        }
        let region = try VirtualMemory.reserve(byteCount: 1 << 16, committed: true)
        defer { try? VirtualMemory.release(region) }
        XCTAssertThrowsError(try VirtualMemory.commit(region.base + 8, byteCount: 4096)) { error in
            XCTAssertEqual(error as? OffHeapError, .misalignedPointer)
        }
        // Still usable after the bad call.
        region.base.storeBytes(of: 1, as: UInt64.self)
        XCTAssertEqual(region.base.load(as: UInt64.self), 1)
    }
}
