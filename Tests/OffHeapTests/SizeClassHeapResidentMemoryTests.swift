import OffHeap
import Synchronization
import OffHeapTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue target: resident memory after free-all + `trim()` is within 2 MiB of where it
/// started. Measured on the real process (`/proc/self/statm`), in a child process of its own
/// (a Swift Testing exit test), so the other tests running in parallel cannot disturb the
/// figure.
@Suite("SizeClassHeap resident memory")
struct SizeClassHeapResidentMemoryTests {
    /// Exit codes of the child: 0 pass, 2 contents corrupted, 3 the workload did not touch
    /// enough memory to prove anything, 4 an allocation or free failed, 5 statm unreadable,
    /// 16 + MiB when the memory left resident after trim exceeds the bound.
    static let boundBytes = 2 << 20

    /// A sanitizer runtime's shadow memory, allocator caches and quarantine are part of the
    /// process's resident set, so the figure only means something in a plain build (the
    /// matrix's debug and release test cells run it; its ASan cell skips it).
    static let underSanitizer =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
        || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

    @Test(.enabled(if: !underSanitizer, "process RSS includes the sanitizer's own memory"))
    func residentMemoryReturnsWithinTwoMiBAfterFreeAllAndTrim() async {
        await #expect(processExitsWith: .success) {
            exit(ResidentMemoryProbe.run(threads: 4, blocksPerThread: 40_000))
        }
    }
}

/// The child's workload: `threads` threads each allocate `blocksPerThread` blocks of varied
/// size classes (and a few large blocks), fill them with a pattern, and exit still holding
/// them (their pages are abandoned). The main thread then checks every block, frees it
/// (remote frees into abandoned pages), calls `trim()` and compares the resident set with
/// the figure taken before the heap was created.
enum ResidentMemoryProbe {
    static func residentBytes() -> Int? {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 127) }
        guard count > 0 else { return nil }
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func size(of index: Int) -> Int {
        if index % 997 == 0 { return 256 << 10 }  // large: its own mapping
        return 8 + (index &* 2_654_435_761) % 3_000
    }

    static func run(threads: Int, blocksPerThread: Int) -> Int32 {
        let total = threads * blocksPerThread
        // The block table lives in its own mapping, touched before the baseline is taken.
        guard let table = try? VirtualMemory.reserve(byteCount: total * 8, committed: true)
        else { return 4 }
        table.base.initializeMemory(as: UInt.self, repeating: 0, count: total)
        let tableAddress = UInt(bitPattern: table.base)  // Sendable, for the workers
        // A small warm-up run first (its own heap, freed and trimmed), so that the code pages
        // it faults in, the C library's cached thread stacks and per-thread malloc arenas
        // are part of the baseline: what remains is what the heap itself keeps resident.
        if let failure = cycle(threads: threads, blocksPerThread: 100, table: tableAddress).failure {
            return failure
        }
        guard let before = residentBytes() else { return 5 }
        let result = cycle(threads: threads, blocksPerThread: blocksPerThread, table: tableAddress)
        if let failure = result.failure { return failure }
        guard let after = result.afterTrim else { return 5 }
        if result.peak - before < 32 << 20 { return 3 }
        let grown = after - before
        if grown > SizeClassHeapResidentMemoryTests.boundBytes {
            return Int32(16 + min(grown >> 20, 200))
        }
        return 0
    }

    /// One heap's life: fill from worker threads that exit holding their blocks, check and
    /// free everything from this thread, `trim()`. Returns the resident set at its peak and
    /// right after `trim()`, while the heap is still alive.
    static func cycle(
        threads: Int, blocksPerThread: Int, table tableAddress: UInt
    ) -> (peak: Int, afterTrim: Int?, failure: Int32?) {
        guard let heap = try? SizeClassHeap() else { return (0, nil, 4) }
        let failures = Counter()
        do {
            try PlatformThread.run(count: threads) { thread in
                let slots = UnsafeMutablePointer<UInt>(bitPattern: tableAddress)!
                for local in 0..<blocksPerThread {
                    let index = thread * blocksPerThread + local
                    let bytes = size(of: index)
                    guard let block = try? heap.allocate(byteCount: bytes, alignment: 8) else {
                        failures.add()
                        return
                    }
                    heapFillPattern(block, byteCount: bytes, tag: UInt64(index))
                    slots[index] = UInt(bitPattern: block)
                }
            }
        } catch {
            return (0, nil, 4)
        }
        guard failures.value == 0, let peak = residentBytes() else { return (0, nil, 4) }
        let slots = UnsafeMutablePointer<UInt>(bitPattern: tableAddress)!
        for index in 0..<threads * blocksPerThread {
            guard let block = UnsafeMutableRawPointer(bitPattern: slots[index]) else {
                return (peak, nil, 4)
            }
            if !heapCheckPattern(block, byteCount: size(of: index), tag: UInt64(index)) {
                return (peak, nil, 2)
            }
            do { try heap.deallocate(block) } catch { return (peak, nil, 4) }
        }
        heap.trim()
        let afterTrim = residentBytes()
        withExtendedLifetime(heap) {}
        return (peak, afterTrim, nil)
    }

    /// A failure count shared by the worker threads.
    final class Counter: Sendable {
        private let count = Atomic<Int>(0)
        func add() { count.wrappingAdd(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }
}
