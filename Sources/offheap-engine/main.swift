// offheap-engine: the workload engine as a plain executable, built in Embedded Swift for
// aarch64 (ci/build-aarch64.sh) and run under QEMU. Same options and the same JSON document
// as `offheap stress|bench` (no peers: there is no LD_PRELOAD of Debian's allocators there).
// `offheap-engine probe [--json FILE]` prints the address-space probe, as `offheap probe`.
// `offheap-engine selfcheck [--repetitions N]` runs every allocator with every stress role,
// N times in one process (SelfCheck.swift): the aarch64 TSan race loop.
// `offheap-engine --version` prints OffHeapVersion.current.
// Exit status: 0 ok, 1 corruption/errors/failed recovery, 2 bad options.
import COffHeapHostShims
import OffHeap
import OffHeapWorkloads

func engineMain() -> Int32 {
    let arguments = ProcessArguments.afterProgramName
    if arguments.first == "--version" {
        print(OffHeapVersion.current)
        return 0
    }
    if arguments.first == "probe" { return probeMain(Array(arguments.dropFirst())) }
    if arguments.first == "selfcheck" { return selfcheckMain(Array(arguments.dropFirst())) }
    let invocation: RunPlan.Invocation
    do throws(OffHeapError) {
        invocation = try RunPlan.parse(arguments)
    } catch {
        print("offheap-engine: \(error.description)")
        print(RunPlan.usage)
        return 2
    }
    var plan = invocation.plan
    plan.observeSignals = true
    RunStop.installHandlers()
    let interactive = offheap_isatty(2) != 0
    let document: RunDocument
    do throws(OffHeapError) {
        document = try plan.run { label, progress, elapsedNs in
            guard interactive else { return }
            let line = "\r\(label)  \(elapsedNs / 1_000_000) ms  \(progress) ops   "
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBytes { raw in offheap_write(2, raw.baseAddress!, raw.count) }
        }
    } catch {
        print("offheap-engine: \(error.description)")
        return error.kind == .invalidConfiguration ? 2 : 1
    }
    if interactive { print("") }
    let json = document.json()
    if let path = invocation.jsonPath {
        do throws(OffHeapError) {
            try RunDocument.write(json, toPath: path)
        } catch {
            print("offheap-engine: \(error.description)")
            return 1
        }
    }
    for result in document.results {
        print("\(result.workload) \(result.allocator): \(result.operations) ops, \(UInt64(result.opsPerSecond)) ops/s, p50 \(result.p50Ns) ns, p99 \(result.p99Ns) ns, corruption \(result.corruption), errors \(result.errors)")
        for role in result.roles {
            print("  role \(role.role) x\(role.lanes): \(role.operations) ops, \(role.validations) reads, \(role.crossThreadFrees) cross-thread frees, corruption \(role.corruption), errors \(role.errors)")
        }
        if let live = result.fact("heapLiveBlocksAtRest"), live != 0 {
            print("  heap: \(Int(live)) blocks live at rest (freed but never returned)")
        }
        if let peak = result.fact("hyalinePeakUnreclaimed") {
            let ticks = UInt64(result.fact("hyalineControllerTicks") ?? 0)
            let flushes = UInt64(result.fact("hyalineControllerFlushes") ?? 0)
            let controller = result.fact("hyalineController") == 1
                ? ", PI controller: \(ticks) ticks, \(flushes) flushes" : ""
            print("  hyaline: peak unreclaimed \(UInt64(peak)), reclaimed \(UInt64(result.fact("hyalineReclaimed") ?? 0)) (\(UInt64(result.fact("hyalineReclaimCrossThread") ?? 0)) cross-thread)\(controller)")
        }
    }
    print(document.ok ? "ok" : "FAILED")
    return document.ok ? 0 : 1
}

/// `offheap-engine probe [--json FILE]`: the same probe and document as `offheap probe`.
func probeMain(_ arguments: [String]) -> Int32 {
    var jsonPath: String?
    var index = 0
    while index < arguments.count {
        if arguments[index] == "--json", index + 1 < arguments.count {
            jsonPath = arguments[index + 1]
            index += 2
        } else {
            print("offheap-engine: unknown probe option \(arguments[index])")
            print("usage: offheap-engine probe [--json FILE]")
            return 2
        }
    }
    let machine = MachineFacts.current()
    if let jsonPath {
        let json = RunDocument(command: "probe", machine: machine).json()
        do throws(OffHeapError) {
            try RunDocument.write(json, toPath: jsonPath)
        } catch {
            print("offheap-engine: \(error.description)")
            return 1
        }
    }
    print(AddressSpaceProbe.run().render())
    if machine.emulated { print("emulated             yes (QEMU user mode)") }
    return 0
}

offheap_exit(engineMain())
