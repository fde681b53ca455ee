// The workloads of the build-time mutants (Sources/OffHeap/Support/Mutants.swift): each
// `mutant-NAME` arms one mutant of the library, then runs a correct user program whose own
// checker must notice the library's defect. `clean-tsan`, `clean-stress` and `clean-checked`
// run the same workloads with nothing armed, in the same build (they must pass silently). Compiled in only with
// `-DOFFHEAP_MUTANTS` (the defects cell's mutants build); elsewhere `mutant-*` exits 4.
import OffHeap
import OffHeapWorkloads
import Synchronization

/// The mutant defects, by program name, and the checker family each is meant for.
let mutantDefects = [
    "mutant-freelist-head-relaxed", "mutant-hyaline-head-relaxed", "mutant-lost-remote-free",
    "mutant-corrupt-link",
]

#if OFFHEAP_MUTANTS
    /// What `offheap-defects` prints about the mutants in this build.
    let mutantsSummary = "mutants: compiled in, \(Mutants.current.map { "\($0.name) armed" } ?? "dormant")"

    /// Runs mutant `name` (`mutant-…`) armed; `nil` for an unknown name. Returns whether
    /// the workload's own checks passed.
    func runMutant(_ name: String) throws(OffHeapError) -> Bool? {
        for mutant in Mutant.allCases where "mutant-" + mutant.name == name {
            Mutants.arm(mutant)
            print("offheap-defects: \(mutantsSummary)")
            return try mutantWorkload(mutant)
        }
        return nil
    }

    /// The workload that exposes `mutant` (run unarmed by the clean controls).
    func mutantWorkload(_ mutant: Mutant) throws(OffHeapError) -> Bool {
        switch mutant {
        case .freeListHeadRelaxed: return try freeListHandoff()
        case .hyalineSlotHeadRelaxed: return try hyalineHandoff()
        case .lostRemoteFree: return try heapStress()
        case .corruptFreeListLink: return try checkedChurn()
        }
    }
#else
    let mutantsSummary = "mutants: not compiled in"
#endif

// Slot contents go through typed pointers' `pointee` (transparent), which TSan instruments in
// this module; the generic raw `load`/`storeBytes` of a debug build run in the uninstrumented
// standard library, where TSan would not see them.

/// Relaxed progress words of the two-thread workloads. Relaxed on purpose: they order
/// nothing (for TSan), so every happens-before edge between the threads comes from the
/// allocator or the domain under test. On the heap, not lazily initialised globals: in a
/// debug build each access to one of those goes through `swift_once`, which TSan is told
/// is synchronisation (see `Mutants` in the library).
struct ProgressWords: @unchecked Sendable {
    // @unchecked Sendable: atomics only, freed by the creator after joining the threads.
    let words: UnsafeMutablePointer<Atomic<Int>>
    init() {
        words = .allocate(capacity: 4)
        for index in 0..<4 { (words + index).initialize(to: Atomic(0)) }
    }
    func free() { words.deallocate() }
    func load(_ index: Int) -> Int { words[index].load(ordering: .relaxed) }
    func store(_ index: Int, _ value: Int) { words[index].store(value, ordering: .relaxed) }
    func add(_ index: Int) { words[index].add(1, ordering: .relaxed) }
}

/// TSan (mutant `freelist-head-relaxed`): slots handed from a producer to a consumer
/// through the FreeList alone. The producer allocates a slot, writes it and frees it, 64
/// times, then says so (relaxed) and stays alive (TSan compares live threads' accesses: a
/// finished thread's slot may be reused); the consumer then pops every slot of the pool
/// and reads each, so it reads what the producer wrote, ordered only by the head's release
/// (push) and acquire (pop). Nobody ever finds the list empty, so no pop takes `growLock`,
/// whose acquire/release would order them too; the pool is unchecked, because checked
/// mode's per-slot state CAS would order them as well.
@inline(never)
func freeListHandoff() throws(OffHeapError) -> Bool {
    let capacity = 16
    let rounds = 64
    let pool = try FreeList(
        configuration: .init(
            slotSize: 64, capacity: capacity, growth: .preallocate(populate: false),
            checking: .unchecked))
    // Word 0: the producer's rounds are done; word 1: the consumer is done.
    let progress = ProgressWords()
    defer { progress.free() }
    let producer = try PlatformThread {
        for round in 1...rounds {
            guard let slot = try? pool.allocate() else { continue }
            let words = slot.assumingMemoryBound(to: UInt64.self)
            for word in 0..<8 { (words + word).pointee = UInt64(round) }
            try? pool.deallocate(slot)
        }
        progress.store(0, 1)
        while progress.load(1) == 0 { PlatformThread.yield() }
    }
    let held = UnsafeMutablePointer<UInt>.allocate(capacity: capacity)
    held.initialize(repeating: 0, count: capacity)
    defer { held.deallocate() }
    let heldAddress = UInt(bitPattern: held)
    let consumer = try PlatformThread {
        let held = UnsafeMutablePointer<UInt>(bitPattern: heldAddress)!
        while progress.load(0) == 0 { PlatformThread.yield() }
        var read: UInt64 = 0
        for index in 0..<capacity {
            guard let slot = try? pool.allocate() else { break }
            read |= slot.assumingMemoryBound(to: UInt64.self).pointee
            held[index] = UInt(bitPattern: slot)
        }
        sink(read)
        progress.store(1, 1)
    }
    consumer.join()
    producer.join()
    var popped = 0
    for index in 0..<capacity where held[index] != 0 {
        try pool.deallocate(UnsafeMutableRawPointer(bitPattern: held[index])!)
        popped += 1
    }
    print("offheap-defects: freelist handoff: \(rounds) producer rounds, \(popped) slots popped by the consumer")
    return popped == capacity
}

/// TSan (mutant `hyaline-head-relaxed`): a node read by a reader under a Hyaline guard, then
/// unlinked, retired and reclaimed by the writer, whose next allocation reuses the node's
/// slot and writes it. The reader has left before the retire, so the flush finds its slot
/// inactive and frees the batch at once: the reader's read is ordered before the writer's
/// reuse only by the reader's releasing leave and the flush's acquiring load of its slot
/// head. The writer checks that the reader saw every round's value. Both use `withGuard`,
/// which does not retain the domain: in Embedded Swift the reference count is instrumented
/// too, and a retained guard's release would order the reader before the writer by itself.
@inline(never)
func hyalineHandoff() throws(OffHeapError) -> Bool {
    let rounds = 8
    let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 64))
    let domain = try HyalineDomain(configuration: .init(maximumReaders: 4))
    let reclaimer = try domain.register(HyalinePoolReclaimer(pool))
    let cell = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: 1)
    cell.initialize(to: Atomic(0))
    let seen = UnsafeMutablePointer<UInt64>.allocate(capacity: rounds + 1)
    seen.initialize(repeating: 0, count: rounds + 1)
    defer {
        cell.deinitialize(count: 1)
        cell.deallocate()
        seen.deallocate()
    }
    // Word 0: the round published; word 1: the round read; word 2: the writer failed.
    let progress = ProgressWords()
    defer { progress.free() }
    let cellAddress = UInt(bitPattern: cell)
    let seenAddress = UInt(bitPattern: seen)
    let reader = try PlatformThread {
        let cell = UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: cellAddress)!
        let seen = UnsafeMutablePointer<UInt64>(bitPattern: seenAddress)!
        for round in 1...rounds {
            while progress.load(0) < round { PlatformThread.yield() }
            do throws(OffHeapError) {
                try domain.withGuard { guardian throws(OffHeapError) in
                    if let node = UnsafeRawPointer(bitPattern: UInt(guardian.protect(cell))) {
                        seen[round] = (node.assumingMemoryBound(to: UInt64.self) + 1).pointee
                    }
                }
            } catch {
                print("offheap-defects: hyaline handoff: reader: \(error)")
            }
            progress.store(1, round)
        }
    }
    let writer = try PlatformThread {
        let cell = UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: cellAddress)!
        do throws(OffHeapError) {
            for round in 1...rounds {
                let node = try pool.allocate()
                let birth = domain.birthEra()
                let words = node.assumingMemoryBound(to: UInt64.self)
                for word in 0..<8 { (words + word).pointee = UInt64(round) }
                _ = cell.pointee.exchange(
                    UInt64(UInt(bitPattern: node)), ordering: .acquiringAndReleasing)
                progress.store(0, round)
                while progress.load(1) < round { PlatformThread.yield() }
                try domain.withGuard { guardian throws(OffHeapError) in
                    let unlinked = cell.pointee.exchange(0, ordering: .acquiringAndReleasing)
                    try guardian.retire(
                        UnsafeMutableRawPointer(bitPattern: UInt(unlinked))!, birthEra: birth,
                        reclaimer: reclaimer)
                    guardian.flushPending()
                }
            }
        } catch {
            print("offheap-defects: hyaline handoff: writer: \(error)")
            progress.store(2, 1)
        }
    }
    reader.join()
    writer.join()
    try domain.destroy()
    var missed = 0
    for round in 1...rounds where seen[round] != UInt64(round) { missed += 1 }
    print("offheap-defects: hyaline handoff: \(rounds) rounds, \(domain.statistics.reclaimed) nodes reclaimed, \(missed) reads wrong")
    return missed == 0 && progress.load(2) == 0
}

/// Stress recovery (mutant `lost-remote-free`): the stress hammer against `SizeClassHeap`,
/// exactly as `offheap-engine stress --allocator heap` runs it (RunPlan, every role: the
/// readers' frees of published blocks are remote frees). Its recovery phase must fail when
/// a freed block never comes back (RunPlan's live-blocks-at-rest check).
@inline(never)
func heapStress() throws(OffHeapError) -> Bool {
    let plan = try RunPlan.parse([
        "stress", "--allocator", "heap", "--threads", "4", "--roles", "publisher,reader,bounce,retire",
        "--operations", "4000",
        "--capacity", "1024",
    ]).plan
    let document = try plan.run()
    for result in document.results {
        let live = Int(result.fact("heapLiveBlocksAtRest") ?? -1)
        let recovered = result.recovered.map { $0 ? "yes" : "no" } ?? "n/a"
        print("offheap-defects: stress \(result.allocator): \(result.operations) ops, \(UInt64(result.fact("crossThreadFrees") ?? 0)) cross-thread frees, corruption \(result.corruption), errors \(result.errors), recovered \(recovered), \(live) blocks live at rest")
    }
    if !document.ok { print("offheap-defects: stress hammer FAILED (recovery or content checks)") }
    return document.ok
}

/// Checked mode (mutant `corrupt-link`): one thread churns a checked FreeList (allocate,
/// tag, verify, free in a seeded order over up to 32 live slots). A corrupted link makes
/// the list hand out a slot that is still allocated; checked mode must refuse it with a
/// typed error (`.freeListCorrupted`), which ends the program with exit 3. The slots'
/// content tags are verified too (a slot handed to two owners would fail them).
@inline(never)
func checkedChurn() throws(OffHeapError) -> Bool {
    let limit = 32
    let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 256))
    var live: [(slot: UnsafeMutableRawPointer, tag: UInt64)] = []
    var random: UInt64 = 0x9E37_79B9_7F4A_7C15
    var mismatches = 0
    for operation in 0..<4000 {
        random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let pick = Int(truncatingIfNeeded: random >> 33)
        if live.isEmpty || (live.count < limit && pick & 1 == 0) {
            let slot = try pool.allocate()
            let tag = UInt64(operation) &* 0x100 | 0xA5
            slot.storeBytes(of: tag, as: UInt64.self)
            live.append((slot, tag))
        } else {
            let victim = live.remove(at: pick % live.count)
            if victim.slot.load(as: UInt64.self) != victim.tag { mismatches += 1 }
            try pool.deallocate(victim.slot)
        }
    }
    for entry in live {
        if entry.slot.load(as: UInt64.self) != entry.tag { mismatches += 1 }
        try pool.deallocate(entry.slot)
    }
    print("offheap-defects: checked churn: 4000 operations, \(mismatches) content tags wrong")
    return mismatches == 0
}
