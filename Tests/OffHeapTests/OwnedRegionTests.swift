import COffHeapShims
import Testing

@testable import OffHeap

#if canImport(Glibc)
    import Glibc
#endif

/// `OwnedRegion` unmaps when its owner ends, on init error paths too. Each test runs in a
/// child process of its own (an exit test): single-threaded, so no other test can map the
/// address range a released region leaves free before the child looks at it.
@Suite("OwnedRegion")
struct OwnedRegionTests {
    /// Whether `address` is mapped: `madvise` fails with ENOMEM on an unmapped range.
    static func isMapped(_ address: UnsafeMutableRawPointer) -> Bool {
        (try? VirtualMemory.decommit(address, byteCount: VirtualMemory.pageSize)) != nil
    }

    /// Bytes of address space mapped, summed over /proc/self/maps (adjacent mappings merge
    /// into one line, so lines cannot be counted).
    static func mappedBytes() -> Int {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let count = buffer.withUnsafeMutableBytes {
            Int(offheap_read_file("/proc/self/maps", $0.baseAddress!, $0.count))
        }
        var total = 0
        for line in buffer[0..<max(count, 0)].split(separator: 10) {
            let range = line.prefix { $0 != 32 }.split(separator: 45)  // "start-end"
            guard range.count == 2,
                let start = Int(String(decoding: range[0], as: UTF8.self), radix: 16),
                let end = Int(String(decoding: range[1], as: UTF8.self), radix: 16)
            else { continue }
            total += end - start
        }
        return total
    }

    @Test(
        .enabled(
            if: !SizeClassHeapResidentMemoryTests.underSanitizer,
            "a sanitizer runtime maps memory of its own at any time"))
    func regionIsUnmappedWhenItsOwnerEnds() async {
        await #expect(processExitsWith: .success) {
            var base: UnsafeMutableRawPointer?
            do {
                guard let owned = try? OwnedRegion(byteCount: 4 * VirtualMemory.pageSize, committed: true)
                else { exit(2) }
                base = owned.base
                guard Self.isMapped(owned.base) else { exit(3) }
            }
            exit(Self.isMapped(base!) ? 1 : 0)
        }
    }

    /// A checked ShardedFreeList refused for want of a registry row (every row held by a live
    /// pool) leaves no mapping behind: the state table it reserved first is unmapped by the
    /// failing init.
    @Test(
        .enabled(
            if: !SizeClassHeapResidentMemoryTests.underSanitizer,
            "a sanitizer runtime maps memory of its own at any time"))
    func refusedShardedFreeListInitLeavesNoMapping() async {
        await #expect(processExitsWith: .success) {
            var pools: [ShardedFreeList] = []
            while pools.count < ShardedFreeList.maximumLiveInstances {
                guard let pool = try? ShardedFreeList(slotSize: 64, capacity: 64) else { exit(2) }
                pools.append(pool)
            }
            _ = Self.mappedBytes()  // warm up: the read's own buffers are in place
            let before = Self.mappedBytes()
            do throws(OffHeapError) {
                _ = try ShardedFreeList(configuration: .init(slotSize: 64, capacity: 1 << 20))
                exit(3)
            } catch .tooManyLivePools {
            } catch {
                exit(4)
            }
            let after = Self.mappedBytes()
            withExtendedLifetime(pools) {}
            exit(after == before ? 0 : 1)
        }
    }

    /// A FreeList whose slot reservation fails (the address-space limit leaves room for its
    /// metadata only) throws a typed error and leaves no mapping behind: the metadata it
    /// reserved first is unmapped by the failing init. Then, with the limit lifted, a pool
    /// of the same configuration works.
    @Test(
        .enabled(
            if: !SizeClassHeapResidentMemoryTests.underSanitizer,
            "a sanitizer runtime maps memory of its own at any time"))
    func refusedFreeListInitLeavesNoMapping() async {
        await #expect(processExitsWith: .success) {
            let configuration = FreeList.Configuration(slotSize: 1 << 20, capacity: 1024)
            _ = Self.mappedBytes()  // warm up: the read's own buffers are in place
            let before = Self.mappedBytes()
            var saved = rlimit()
            guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &saved) == 0 else { exit(5) }
            var limit = saved
            limit.rlim_cur = rlim_t(before + (64 << 20))  // metadata fits; 1 GiB of slots not
            guard setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0 else { exit(5) }
            do throws(OffHeapError) {
                _ = try FreeList(configuration: configuration)
                exit(3)
            } catch .mappingFailed {
            } catch {
                exit(4)
            }
            let after = Self.mappedBytes()
            guard setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &saved) == 0 else { exit(5) }
            guard let pool = try? FreeList(configuration: configuration),
                let slot = try? pool.allocate(), (try? pool.deallocate(slot)) != nil
            else { exit(6) }
            exit(after == before ? 0 : 1)
        }
    }
}
