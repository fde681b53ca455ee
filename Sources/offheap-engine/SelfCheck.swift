import COffHeapHostShims
import OffHeap
import OffHeapWorkloads

/// `offheap-engine selfcheck [--repetitions N] [--operations N] [--threads N] [--capacity N]
/// [--slot-size N]`:
/// the stress hammer over every allocator of ours with every role at once (bounce,
/// publisher, reader, burst, retire: cross-thread frees included), repeated N times in one
/// process. Odd repetitions hand published slots over through a Hyaline domain, even ones
/// with an exchange (readers free them). Each repetition is short (`--operations`, default
/// 2000; `--capacity` defaults to twice that, since the bulk-free Arena never reuses a slot
/// within a pass and would otherwise wait for operations it can never serve): the point is
/// many interleavings under a race detector, not throughput. The aarch64 TSan cell runs it, because
/// ThreadSanitizer's start-up under QEMU (~12 s) makes one process per repetition too slow.
///
/// ```sh
/// offheap-engine selfcheck --repetitions 50
/// ```
///
/// Exit status: 0 every repetition verified, 1 corruption/errors/failed recovery, 2 bad
/// options.
func selfcheckMain(_ arguments: [String]) -> Int32 {
    let usage = "usage: offheap-engine selfcheck [--repetitions N] [--operations N] [--threads N] [--capacity N] [--slot-size N]"
    var repetitions = 1
    var operations = 2_000
    var threads = 5
    var capacity: Int?
    var slotSize = 64
    var index = 0
    while index < arguments.count {
        let option = arguments[index]
        if option == "-h" || option == "--help" {
            print(usage)
            return 0
        }
        guard index + 1 < arguments.count, let value = Int(arguments[index + 1]) else {
            print("offheap-engine: selfcheck option \(option) needs an integer value")
            print(usage)
            return 2
        }
        switch option {
        case "--repetitions" where (1...100_000).contains(value): repetitions = value
        case "--operations" where (1...(1 << 19)).contains(value): operations = value
        case "--threads" where (2...64).contains(value): threads = value
        case "--capacity" where (16...(1 << 20)).contains(value): capacity = value
        case "--slot-size" where (16...4096).contains(value): slotSize = value
        default:
            print("offheap-engine: unknown selfcheck option or value out of range: \(option) \(arguments[index + 1])")
            print(usage)
            return 2
        }
        index += 2
    }
    let roles: [StressRole] = [.bounce, .publisher, .reader, .burst, .retire]
    let allocators = AllocatorChoice.allCases.filter { $0.isAvailable && $0 != .system }
    let start = MonotonicClock.nanoseconds
    for repetition in 1...repetitions {
        var plan = RunPlan(command: .stress)
        plan.allocators = allocators
        plan.capacity = capacity ?? max(1_024, 2 * operations)
        plan.slotSize = slotSize
        plan.stress.threads = threads
        plan.stress.roles = roles
        plan.stress.hyaline = repetition % 2 == 1
        plan.stress.limit = .operations(UInt64(operations))
        plan.stress.seed = UInt64(repetition)
        let document: RunDocument
        do throws(OffHeapError) {
            document = try plan.run()
        } catch {
            print("offheap-engine: selfcheck repetition \(repetition): \(error.description)")
            return error.kind == .invalidConfiguration ? 2 : 1
        }
        var total: UInt64 = 0
        for result in document.results {
            total += result.operations
            if !document.ok {
                print("  \(result.allocator): \(result.operations) ops, corruption \(result.corruption), errors \(result.errors)")
            }
        }
        // Written unbuffered: a checker that kills the process (TSan's fatal errors call
        // _exit) must not take the progress made so far with it.
        selfcheckSay("offheap-engine selfcheck: repetition \(repetition)/\(repetitions) \(document.ok ? "ok" : "FAILED") (\(document.results.count) allocators, \(threads) threads, hyaline \(plan.stress.hyaline ? "on" : "off"), \(total) ops)")
        if !document.ok { return 1 }
    }
    selfcheckSay("offheap-engine selfcheck: PASS \(repetitions) repetitions in \((MonotonicClock.nanoseconds - start) / 1_000_000) ms")
    return 0
}

/// One line on standard output, written at once (no stdio buffer).
func selfcheckSay(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { raw in offheap_write(1, raw.baseAddress!, raw.count) }
}
