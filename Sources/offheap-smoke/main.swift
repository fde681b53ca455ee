import COffHeapShims
import OffHeap

// offheap-smoke: a quick end-to-end check of the allocators on the machine it runs on; the
// aarch64 cell of the matrix builds it in Embedded Swift and runs it under QEMU
// (ci/build-aarch64.sh --run). Exit status 0 only when every check verified.
//
// Output: one line per check, a summary line, and a one-line JSON document:
//   {"program":"offheap-smoke","arch":"aarch64","threads":4,"operations":N,
//    "corruption":0,"errors":0,"ok":true}

#if arch(arm64)
let smokeArch = "aarch64"
#elseif arch(x86_64)
let smokeArch = "x86_64"
#else
let smokeArch = "unknown"
#endif

let smokeThreads = 4

/// Runs one named check; a thrown error (e.g. a thread that could not start) counts as one.
func smokeStep(
    _ name: String, _ report: SmokeReport, _ body: () throws(OffHeapError) -> Void
) {
    let before = report.errorCount + report.corruptionCount
    let start = Clock.nanoseconds
    do throws(OffHeapError) {
        try body()
    } catch {
        report.failed(name, error)
    }
    let after = report.errorCount + report.corruptionCount
    let micros = (Clock.nanoseconds - start) / 1000
    print("offheap-smoke: \(after == before ? "ok  " : "FAIL") \(name) (\(micros) us)")
}

func runSmoke() -> Bool {
    let report = SmokeReport()
    let start = Clock.nanoseconds

    smokeStep("FreeList 4 threads cross-thread verify", report) { () throws(OffHeapError) in
        let pool = try SmokeAllocators.freeList(slotSize: 64, capacity: 4096)
        try smokeFixedSizeConcurrent(
            "FreeList", pool, threads: smokeThreads, perThread: 64, rounds: 40, report: report)
    }
    smokeStep("FreeList exhaustion, recovery, bad inputs", report) { () throws(OffHeapError) in
        let pool = try SmokeAllocators.freeList(slotSize: 48, capacity: 100)
        if SmokeFault.current == .swallowDoubleFree {
            smokeFixedSizeLimits(
                "FreeList", DoubleFreeSwallowingAllocator(pool), capacity: 100, report: report)
        } else {
            smokeFixedSizeLimits("FreeList", pool, capacity: 100, report: report)
        }
    }
    smokeStep("SlabPool 4 threads cross-thread verify + reset", report) { () throws(OffHeapError) in
        let pool = try SmokeAllocators.slabPool(
            slabSize: 64 << 10, maximumSlabs: 64, maximumLarge: 64)
        try smokeBulkResetConcurrent(
            "SlabPool", pool, threads: smokeThreads, perThread: 64, rounds: 40,
            largeEvery: 16, largeSize: 40_000, report: report)
    }
    smokeStep("SlabPool exhaustion, reset, bad inputs", report) { () throws(OffHeapError) in
        let slabSize = 16 * VirtualMemory.pageSize
        let pool = try SmokeAllocators.slabPool(slabSize: slabSize, maximumSlabs: 4, maximumLarge: 8)
        smokeVariableSizeBadRequests("SlabPool", pool, report: report)
        try pool.smokeReset()
        smokeSlabPoolLimits(
            "SlabPool", pool, slabSize: slabSize, maximumSlabs: 4, maximumLarge: 8, report: report)
    }
    smokeStep("Arena 4 threads cross-thread verify + reset", report) { () throws(OffHeapError) in
        let arena = try SmokeAllocators.arena(capacity: 1 << 20)
        try smokeBulkResetConcurrent(
            "Arena", arena, threads: smokeThreads, perThread: 64, rounds: 40, report: report)
    }
    smokeStep("Arena exhaustion, reset, bad inputs", report) { () throws(OffHeapError) in
        let capacity = 16 * VirtualMemory.pageSize
        let arena = try SmokeAllocators.arena(capacity: capacity)
        smokeVariableSizeBadRequests("Arena", arena, report: report)
        smokeArenaLimits("Arena", arena, capacity: capacity, report: report)
    }
    smokeStep("Atomic<WordPair> 128-bit CAS, 4 threads", report) { () throws(OffHeapError) in
        try smokeWordPairConcurrent(threads: smokeThreads, increments: 20_000, report: report)
    }

    let millis = (Clock.nanoseconds - start) / 1_000_000
    let operations = report.operationCount
    print(
        "offheap-smoke: \(report.ok ? "PASS" : "FAIL") arch=\(smokeArch) threads=\(smokeThreads) "
            + "operations=\(operations) corruption=\(report.corruptionCount) "
            + "errors=\(report.errorCount) page=\(VirtualMemory.pageSize) "
            + "time=\(millis)ms")
    print(report.json(arch: smokeArch, threads: smokeThreads))
    return report.ok
}

offheap_exit(runSmoke() ? 0 : 1)
