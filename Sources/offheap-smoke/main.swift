import COffHeapHostShims
import OffHeap

// offheap-smoke: a quick end-to-end check of the allocators on the machine it runs on; the
// aarch64 cell of the matrix builds it in Embedded Swift and runs it under QEMU
// (ci/build-aarch64.sh --run). Exit status 0 only when every check verified.
//
// `--repetitions N` repeats the checks in one process, `--concurrent` keeps only the
// multi-threaded ones (SmokeOptions.swift): the aarch64 TSan race loop runs
// `offheap-smoke --concurrent --repetitions 50`.
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
    let start = MonotonicClock.nanoseconds
    do throws(OffHeapError) {
        try body()
    } catch {
        report.failed(name, error)
    }
    let after = report.errorCount + report.corruptionCount
    let micros = (MonotonicClock.nanoseconds - start) / 1000
    print("offheap-smoke: \(after == before ? "ok  " : "FAIL") \(name) (\(micros) us)")
}

/// One pass over the checks (only the multi-threaded ones when `concurrentOnly`); `rounds`
/// rounds per multi-threaded check.
func runSmokeChecks(_ report: SmokeReport, concurrentOnly: Bool, rounds: Int) {
    smokeStep("FreeList 4 threads cross-thread verify", report) { () throws(OffHeapError) in
        let pool = try SmokeAllocators.freeList(slotSize: 64, capacity: 4096)
        try smokeFixedSizeConcurrent(
            "FreeList", pool, threads: smokeThreads, perThread: 64, rounds: rounds, report: report)
    }
    if !concurrentOnly {
        smokeStep("FreeList exhaustion, recovery, bad inputs", report) { () throws(OffHeapError) in
            let pool = try SmokeAllocators.freeList(slotSize: 48, capacity: 100)
            if SmokeFault.current == .swallowDoubleFree {
                smokeFixedSizeLimits(
                    "FreeList", DoubleFreeSwallowingAllocator(pool), capacity: 100, report: report)
            } else {
                smokeFixedSizeLimits("FreeList", pool, capacity: 100, report: report)
            }
        }
    }
    smokeStep("SlabPool 4 threads cross-thread verify + reset", report) { () throws(OffHeapError) in
        let pool = try SmokeAllocators.slabPool(
            slabSize: 64 << 10, maximumSlabs: 64, maximumLarge: 64)
        try smokeBulkResetConcurrent(
            "SlabPool", pool, threads: smokeThreads, perThread: 64, rounds: rounds,
            largeEvery: 16, largeSize: 40_000, report: report)
    }
    if !concurrentOnly {
        smokeStep("SlabPool exhaustion, reset, bad inputs", report) { () throws(OffHeapError) in
            let slabSize = 16 * VirtualMemory.pageSize
            let pool = try SmokeAllocators.slabPool(slabSize: slabSize, maximumSlabs: 4, maximumLarge: 8)
            smokeVariableSizeBadRequests("SlabPool", pool, report: report)
            try pool.smokeReset()
            smokeSlabPoolLimits(
                "SlabPool", pool, slabSize: slabSize, maximumSlabs: 4, maximumLarge: 8, report: report)
        }
    }
    smokeStep("Arena 4 threads cross-thread verify + reset", report) { () throws(OffHeapError) in
        let arena = try SmokeAllocators.arena(capacity: 1 << 20)
        try smokeBulkResetConcurrent(
            "Arena", arena, threads: smokeThreads, perThread: 64, rounds: rounds, report: report)
    }
    if !concurrentOnly {
        smokeStep("Arena exhaustion, reset, bad inputs", report) { () throws(OffHeapError) in
            let capacity = 16 * VirtualMemory.pageSize
            let arena = try SmokeAllocators.arena(capacity: capacity)
            smokeVariableSizeBadRequests("Arena", arena, report: report)
            smokeArenaLimits("Arena", arena, capacity: capacity, report: report)
        }
    }
    // The thread-caching allocators: their per-thread state lives behind the initial-exec
    // TLS slots and pthread-key exit hooks, which these steps exercise on the target too.
    smokeStep("ShardedFreeList 4 threads cross-thread verify", report) { () throws(OffHeapError) in
        // Capacity has headroom for one magazine per thread (slots cached by one thread
        // are invisible to the others); every thread exits, handing its magazine back, so
        // afterwards the whole capacity is allocatable again from this thread.
        let pool = try SmokeAllocators.shardedFreeList(
            slotSize: 64, capacity: 4096, magazineSize: 32)
        try smokeFixedSizeConcurrent(
            "ShardedFreeList", pool, threads: smokeThreads, perThread: 64, rounds: rounds,
            report: report)
        smokeFixedSizeLimits("ShardedFreeList", pool, capacity: 4096, report: report)
    }
    if !concurrentOnly {
        smokeStep("ShardedFreeList exhaustion, recovery, bad inputs", report) { () throws(OffHeapError) in
            let pool = try SmokeAllocators.shardedFreeList(slotSize: 48, capacity: 100, magazineSize: 8)
            smokeFixedSizeLimits("ShardedFreeList", pool, capacity: 100, report: report)
        }
    }
    smokeStep("SizeClassHeap 4 threads cross-thread verify", report) { () throws(OffHeapError) in
        let heap = try SmokeAllocators.sizeClassHeap()
        try smokeIndividualFreeConcurrent(
            "SizeClassHeap", heap, threads: smokeThreads, perThread: 64, rounds: rounds,
            report: report)
    }
    if !concurrentOnly {
        smokeStep("SizeClassHeap bad inputs", report) { () throws(OffHeapError) in
            let heap = try SmokeAllocators.sizeClassHeap()
            smokeVariableSizeBadRequests("SizeClassHeap", heap, zeroSizeIsError: false, report: report)
            smokeIndividualFreeBadPointers("SizeClassHeap", heap, report: report)
        }
    }
    smokeStep("Atomic<WordPair> 128-bit CAS, 4 threads", report) { () throws(OffHeapError) in
        try smokeWordPairConcurrent(threads: smokeThreads, increments: max(1, 500 * rounds), report: report)
    }
}

/// Runs the checks `options.repetitions` times (stopping at the first failed pass) and
/// prints the summary and the JSON document.
func runSmoke(_ options: SmokeOptions) -> Bool {
    let report = SmokeReport()
    let start = MonotonicClock.nanoseconds
    var passes = 0
    while passes < options.repetitions && report.ok {
        passes += 1
        if options.repetitions > 1 { print("offheap-smoke: repetition \(passes)/\(options.repetitions)") }
        runSmokeChecks(report, concurrentOnly: options.concurrentOnly, rounds: options.rounds)
    }

    let millis = (MonotonicClock.nanoseconds - start) / 1_000_000
    let operations = report.operationCount
    print(
        "offheap-smoke: \(report.ok ? "PASS" : "FAIL") arch=\(smokeArch) threads=\(smokeThreads) "
            + "operations=\(operations) corruption=\(report.corruptionCount) "
            + "errors=\(report.errorCount) page=\(VirtualMemory.pageSize) "
            + "repetitions=\(passes)\(options.concurrentOnly ? " concurrent-only" : "") "
            + "time=\(millis)ms")
    print(report.json(arch: smokeArch, threads: smokeThreads))
    return report.ok
}

if let options = SmokeOptions.parse() {
    offheap_exit(runSmoke(options) ? 0 : 1)
} else {
    offheap_exit(2)
}
