// offheap-defects: the seeded-defect catalogue's user programs (see ci/defects/README.md).
//
// Each defect is a small, realistic misuse of an allocator by a user program; the matrix's
// `defects` cell runs it under the checker that must catch it (memcheck, ASan or TSan, in
// the builds with `-DOFFHEAP_INSTRUMENTED`) and passes only if every defect is reported.
// `clean` performs the same operations correctly and must stay silent under every checker,
// so a catch is the defect's, not the harness's.
//
//   offheap-defects leaked-slot | use-after-free | overflow | double-free | racy-slot
//                   | use-after-reset | slab-use-after-reset | clean
//   offheap-defects mutant-freelist-head-relaxed | mutant-hyaline-head-relaxed
//                   | mutant-lost-remote-free | mutant-corrupt-link     (MutantPrograms.swift)
//   offheap-defects clean-tsan | clean-stress | clean-checked   (the controls of the checkers
//                   that judge mutants: their mutants' workloads unarmed; clean-tsan runs
//                   `clean` too)
//   offheap-defects --list
//
// Exit status: 0 done (a user-program defect is for its checker to report), 1 a workload's
// own checks failed, 2 usage, 3 an allocator's typed error, 4 a mutant that this build
// does not contain (built without -DOFFHEAP_MUTANTS).
import COffHeapHostShims
import OffHeap
import OffHeapWorkloads
import Synchronization

/// Keeps a value opaque to the optimiser (a read the compiler cannot drop).
@inline(never)
func sink(_ value: UInt64) {
    if value == 0x5eed_dead_beef_0001 { print("unlikely") }
}

/// Reads 8 bytes with `copyMemory` (a `memmove` call): a debug build's generic `load` runs in
/// the uninstrumented standard library, where ASan does not see it; the call it does see.
@inline(never)
func read(_ address: UnsafeRawPointer) -> UInt64 {
    var value: UInt64 = 0
    withUnsafeMutableBytes(of: &value) { $0.baseAddress!.copyMemory(from: address, byteCount: 8) }
    return value
}

/// The pools live as long as the process, as a long-lived service's pools do; a slot never
/// returned to one is a leak that its end of life does not excuse.
nonisolated(unsafe) var longLivedPool: FreeList?

nonisolated(unsafe) var keptSlot: UnsafeMutableRawPointer?

/// Memcheck: a FreeList slot allocated and never freed, the only pointer to it dropped.
/// Expected: "definitely lost" with the allocation stack through `leakSlot`.
///
/// The leaked slot is the pool's second: slot 0 starts at the pool's base address, which
/// the pool object itself holds, so memcheck always counts slot 0 as reachable.
@inline(never)
func leakSlot() throws(OffHeapError) {
    let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 64))
    longLivedPool = pool
    keptSlot = try pool.allocate()
    dropSlot(try pool.allocate())
}

@inline(never)
func dropSlot(_ slot: UnsafeMutableRawPointer) {
    slot.storeBytes(of: 42, as: UInt64.self)
}

/// Memcheck + ASan: a SizeClassHeap block read after it was freed.
@inline(never)
func useAfterFree(defective: Bool) throws(OffHeapError) {
    let heap = try SizeClassHeap()
    let block = try heap.allocate(byteCount: 48)
    block.storeBytes(of: 7, as: UInt64.self)
    block.storeBytes(of: 8, toByteOffset: 8, as: UInt64.self)
    if !defective { sink(read(block + 8)) }
    try heap.deallocate(block)
    if defective { sink(read(block + 8)) }
}

/// ASan (and memcheck): a write one byte past a 64-byte FreeList slot, into the next slot.
@inline(never)
func overflow(defective: Bool) throws(OffHeapError) {
    let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 64))
    let slot = try pool.allocate()
    let limit = defective ? 65 : 64
    for offset in 0..<limit { slot.storeBytes(of: 0xAB, toByteOffset: offset, as: UInt8.self) }
    try pool.deallocate(slot)
}

/// A 48-byte block written, its allocator reset, and (defective) read after the reset; the
/// next generation's block at the same address is the caller's again.
@inline(never)
func readAfterReset(
    defective: Bool, allocate: () throws(OffHeapError) -> UnsafeMutableRawPointer,
    reset: () throws(OffHeapError) -> Void
) throws(OffHeapError) {
    let block = try allocate()
    block.storeBytes(of: 7, as: UInt64.self)
    block.storeBytes(of: 8, toByteOffset: 8, as: UInt64.self)
    if !defective { sink(read(block + 8)) }
    try reset()
    if defective { sink(read(block + 8)) }
    let again = try allocate()
    again.storeBytes(of: 9, toByteOffset: 8, as: UInt64.self)
    sink(read(again + 8))
}

/// Memcheck + ASan: an Arena block read after the arena was reset (every block freed).
@inline(never)
func useAfterReset(defective: Bool) throws(OffHeapError) {
    let arena = try Arena(capacity: 1 << 16)
    try readAfterReset(
        defective: defective,
        allocate: { () throws(OffHeapError) in try arena.allocate(byteCount: 48) },
        reset: { () throws(OffHeapError) in try arena.reset() })
}

/// Memcheck + ASan: a SlabPool block read after the pool was reset.
@inline(never)
func slabUseAfterReset(defective: Bool) throws(OffHeapError) {
    let pool = try SlabPool(slabSize: 1 << 16, maximumSlabs: 4, maximumLargeAllocations: 4)
    try readAfterReset(
        defective: defective,
        allocate: { () throws(OffHeapError) in try pool.allocate(byteCount: 48) },
        reset: { () throws(OffHeapError) in try pool.reset() })
}

/// Memcheck: the same slot freed twice in unchecked mode (which trusts the caller).
@inline(never)
func doubleFree(defective: Bool) throws(OffHeapError) {
    let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 64, checking: .unchecked))
    let slot = try pool.allocate()
    try pool.deallocate(slot)
    if defective { try pool.deallocate(slot) }
}

/// Both writers of `racySlot` are alive while either writes: each waits for the other to
/// start and stays until the other has finished. TSan reuses a finished thread's slot, so a
/// writer that ran entirely after the other had exited could pass for the same thread (seen
/// on aarch64 under QEMU, where thread start-up is slow). Relaxed counters order nothing
/// after the start: the slot writes stay unordered unless the lock orders them.
let writersStarted = Atomic<Int>(0)
let writersDone = Atomic<Int>(0)

/// TSan: two threads write one slot with no synchronisation between them.
@inline(never)
func racySlot(defective: Bool) throws(OffHeapError) {
    let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 64))
    let slot = try pool.allocate()
    let address = UInt(bitPattern: slot)
    let lock = defective ? nil : try PlatformMutex()
    writersStarted.store(0, ordering: .relaxed)
    writersDone.store(0, ordering: .relaxed)
    let writer: @Sendable (UInt64) -> Void = { value in
        let word = UnsafeMutablePointer<UInt64>(bitPattern: address)!
        writersStarted.add(1, ordering: .relaxed)
        while writersStarted.load(ordering: .relaxed) < 2 { PlatformThread.yield() }
        for round in 0..<1000 {
            lock?.lock()
            word.pointee = value &+ UInt64(round)
            lock?.unlock()
            if round % 8 == 0 { PlatformThread.yield() }
        }
        writersDone.add(1, ordering: .relaxed)
        while writersDone.load(ordering: .relaxed) < 2 { PlatformThread.yield() }
    }
    let first = try PlatformThread { writer(1) }
    let second = try PlatformThread { writer(2) }
    first.join()
    second.join()
    sink(slot.load(as: UInt64.self))
    try pool.deallocate(slot)
}

let defects = [
    "leaked-slot", "use-after-free", "overflow", "double-free", "racy-slot", "use-after-reset",
    "slab-use-after-reset",
] + mutantDefects

/// Runs `name`: `nil` for an unknown name, else whether its own checks passed.
func run(_ name: String) throws(OffHeapError) -> Bool? {
    #if OFFHEAP_MUTANTS
        if let passed = try runMutant(name) { return passed }
        // The controls of the mutants' checkers: their workloads with nothing armed, in
        // the mutants build (TSan's also runs the user programs' control).
        switch name {
        case "clean-tsan":
            guard try run("clean") == true else { return false }
            guard try mutantWorkload(.freeListHeadRelaxed) else { return false }
            return try mutantWorkload(.hyalineSlotHeadRelaxed)
        case "clean-stress": return try mutantWorkload(.lostRemoteFree)
        case "clean-checked": return try mutantWorkload(.corruptFreeListLink)
        default: break
        }
    #else
        if name.hasPrefix("mutant-") || name == "clean-tsan" || name == "clean-stress"
            || name == "clean-checked"
        {
            print("offheap-defects: \(name): \(mutantsSummary) (build with -DOFFHEAP_MUTANTS)")
            offheap_exit(4)
        }
    #endif
    switch name {
    case "leaked-slot": try leakSlot()
    case "use-after-free": try useAfterFree(defective: true)
    case "overflow": try overflow(defective: true)
    case "double-free": try doubleFree(defective: true)
    case "racy-slot": try racySlot(defective: true)
    case "use-after-reset": try useAfterReset(defective: true)
    case "slab-use-after-reset": try slabUseAfterReset(defective: true)
    case "clean":
        try useAfterFree(defective: false)
        try overflow(defective: false)
        try doubleFree(defective: false)
        try racySlot(defective: false)
        try useAfterReset(defective: false)
        try slabUseAfterReset(defective: false)
    default: return nil
    }
    return true
}

func main() -> Int32 {
    let arguments = ProcessArguments.afterProgramName
    guard arguments.count == 1 else {
        print("usage: offheap-defects \(defects.joined(separator: "|"))|clean|--list")
        return 2
    }
    if arguments[0] == "--list" {
        for name in defects { print(name) }
        return 0
    }
    do throws(OffHeapError) {
        guard let passed = try run(arguments[0]) else {
            print("offheap-defects: unknown defect '\(arguments[0])'")
            return 2
        }
        if !passed {
            print("offheap-defects: \(arguments[0]): the workload's own checks FAILED (\(mutantsSummary))")
            return 1
        }
    } catch {
        print("offheap-defects: \(arguments[0]): allocator error \(error)")
        return 3
    }
    print("offheap-defects: \(arguments[0]) done (instrumentation: \(OffHeapInstrumentation.summary); \(mutantsSummary))")
    return 0
}

offheap_exit(main())
