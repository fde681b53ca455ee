import COffHeapHostShims
import OffHeap

/// Everything a `stress` or `bench` run does, shared by the hosted CLI and the Embedded
/// `offheap-engine`: which allocators, which workloads, with which options. ``run(machine:tick:)``
/// builds each allocator fresh per workload and returns the run document.
///
/// ```swift
/// var plan = RunPlan(command: .stress)
/// plan.allocators = [.system]
/// plan.stress.limit = .operations(10_000)
/// let document = try plan.run()
/// print(document.json())
/// ```
public struct RunPlan: Sendable {
    public enum Command: Equatable, Sendable {
        case stress, bench
        public var name: String { self == .stress ? "stress" : "bench" }
    }

    public var command: Command
    /// The allocators to run, in order. The default is the library's general-purpose heap
    /// and its sharded fixed-size allocator; `.system` (malloc) is a comparison, not a default.
    public var allocators: [AllocatorChoice] = [.heap, .sharded]
    public var workloads: [WorkloadKind] = WorkloadKind.allCases
    public var stress = StressConfig()
    public var workload = WorkloadConfig()
    /// Slot size of the stress hammer's slots.
    public var slotSize: Int = 64
    /// Slots (fixed-size allocators) or live blocks (system) the stress allocator holds;
    /// the recovery phase expects exactly this many.
    public var capacity: Int = 1 << 16
    /// Bytes a bulk-free allocator (arena, slabpool) may use per workload in `bench`.
    public var bulkBytes: Int = 256 << 20
    /// Name the system allocator's rows carry: `glibc`, or the peer preloaded.
    public var systemName: String = "glibc"
    /// `bench` only: the thread counts every workload runs with, in order (`--threads 1,2,4`);
    /// `nil` runs `workload.threads` alone.
    public var threadSweep: [Int]?
    /// `bench` only: request sizes the sized workloads (``WorkloadKind/takesRequestSizes``)
    /// run with, one run each with every request that size (`--sizes 16,64,256,1024`); their
    /// rows are named `WORKLOAD@SIZEB` and carry the fact `requestBytes`. `nil`: one run
    /// with `workload.minSize...workload.maxSize`.
    public var sizeSweep: [Int]?

    public init(command: Command) { self.command = command }

    public var observeSignals: Bool {
        get { command == .stress ? stress.observeSignals : workload.observeSignals }
        set {
            stress.observeSignals = newValue
            workload.observeSignals = newValue
        }
    }

    public func validate() throws(OffHeapError) {
        guard !allocators.isEmpty else { throw .invalidConfiguration(reason: "no allocator selected") }
        guard slotSize >= 8, slotSize <= 1 << 20 else {
            throw .invalidConfiguration(reason: "slot size must be in 8...1048576")
        }
        guard capacity >= 1, capacity <= 1 << 28 else {
            throw .invalidConfiguration(reason: "capacity must be in 1...268435456")
        }
        switch command {
        case .stress: try stress.validate()
        case .bench:
            guard !workloads.isEmpty else { throw .invalidConfiguration(reason: "no workload selected") }
            try workload.validate()
        }
    }

    /// Config entries for the run document, in a fixed order.
    public var configEntries: [(String, ConfigValue)] {
        var entries: [(String, ConfigValue)] = [
            ("allocators", .strings(allocators.map { $0.name })),
        ]
        let limit = command == .stress ? stress.limit : workload.limit
        switch limit {
        case .duration(let ns):
            entries.append(("durationMs", .int(Int(ns / 1_000_000))))
        case .operations(let n):
            entries.append(("operations", .int(Int(n))))
        }
        switch command {
        case .stress:
            entries += [
                ("threads", .int(stress.threads)),
                ("roles", .strings(stress.roles.map { $0.name })),
                ("hyaline", .bool(stress.hyaline)),
                ("hyalineMixed", .bool(stress.hyaline && stress.hyalineMixed)),
                ("hyalineController", .bool(stress.hyaline && stress.hyalineController)),
                ("slotSize", .int(slotSize)),
                ("capacity", .int(capacity)),
                ("burstSize", .int(stress.burstSize)),
                ("retireDepth", .int(stress.retireDepth)),
                ("mailboxSize", .int(stress.mailboxSize)),
                ("sampleEvery", .int(stress.sampleEvery)),
                ("seed", .int(Int(truncatingIfNeeded: stress.seed))),
            ]
            if stress.plantCorruptionEvery > 0 {
                entries.append(("plantCorruption", .int(stress.plantCorruptionEvery)))
            }
        case .bench:
            entries.append(("threads", .int(workload.threads)))
            if let threadSweep {
                entries.append(("threadSweep", .strings(threadSweep.map { String($0) })))
            }
            if let sizeSweep {
                entries.append(("sizeSweep", .strings(sizeSweep.map { String($0) })))
            }
            entries += [
                ("workloads", .strings(workloads.map { $0.name })),
                ("minSize", .int(workload.minSize)),
                ("maxSize", .int(workload.maxSize)),
                ("workingSet", .int(workload.workingSet)),
                ("ragDimensions", .int(workload.ragDimensions)),
                ("ragVectors", .int(workload.ragVectors)),
                ("ragQueries", .int(workload.ragQueries)),
                ("ragTopK", .int(workload.ragTopK)),
                ("larsonBlocks", .int(workload.larsonBlocks)),
                ("larsonRounds", .int(workload.larsonRounds)),
                ("ringSize", .int(workload.ringSize)),
                ("churnBlocks", .int(workload.churnBlocks)),
                ("scratchSize", .int(workload.scratchSize)),
                ("scratchWrites", .int(workload.scratchWrites)),
                ("sampleEvery", .int(workload.sampleEvery)),
                ("seed", .int(Int(truncatingIfNeeded: workload.seed))),
            ]
        }
        return entries
    }

    /// Runs the plan. `tick(label, progress, elapsedNs)` reports live progress.
    public func run(
        machine: MachineFacts = .current(),
        tick: (String, UInt64, UInt64) -> Void = { _, _, _ in }
    ) throws(OffHeapError) -> RunDocument {
        try validate()
        var document = RunDocument(command: command.name, machine: machine)
        document.config = configEntries
        document.baseline = systemName
        for choice in allocators {
            let name = choice == .system ? systemName : choice.name
            switch command {
            case .stress:
                var config = stress
                config.expectedCapacity = capacity
                let label = "stress/\(name)"
                let result = try runStress(choice, name: name, config: config) { p, ns in
                    tick(label, p, ns)
                }
                document.results.append(result)
            case .bench:
                for kind in workloads {
                    var sizes: [Int?] = [nil]
                    if kind.takesRequestSizes, let sizeSweep { sizes = sizeSweep.map { $0 } }
                    for size in sizes {
                        for threads in threadSweep ?? [workload.threads] {
                            if observeSignals && RunStop.requested { break }
                            var run = self
                            run.workload.threads = threads
                            var label = kind.name
                            if let size {
                                run.workload.minSize = size
                                run.workload.maxSize = size
                                label += "@\(size)B"
                            }
                            tick(threadSweep == nil ? "\(label)/\(name)" : "\(label)/\(name)/\(threads)t", 0, 0)
                            var result = try run.runWorkload(kind, choice, name: name)
                            if let size {
                                result.workload = label
                                result.facts.append(WorkloadFact(name: "requestBytes", value: Double(size)))
                            }
                            document.results.append(result)
                        }
                    }
                }
            }
            if observeSignals && RunStop.requested { break }
        }
        document.interrupted = observeSignals && RunStop.requested
        return document
    }

    func runStress(
        _ choice: AllocatorChoice, name: String, config: StressConfig,
        tick: (UInt64, UInt64) -> Void
    ) throws(OffHeapError) -> WorkloadResult {
        switch choice {
        case .system:
            let allocator = try SystemAllocator(slotSize: slotSize, capacity: capacity)
            return try StressHammer.run(allocator, allocatorName: name, config: config, tick: tick)
        case .arena:
            // Bulk-free: frees are no-ops, so the arena holds `capacity` slots in all and the
            // workers count `exhausted` once they are used; recovery resets it between passes
            // and expects the same count twice.
            let arena = try Arena(capacity: capacity * slotSize)
            var bulk = config
            bulk.expectedCapacity = nil
            bulk.recoveryLimit = arena.capacity / slotSize + 1
            return try StressHammer.run(
                try VariableSizeAdapter(arena, slotSize: slotSize), allocatorName: name,
                config: bulk, reclaim: { RunPlan.reset(arena) }, tick: tick)
        case .slabpool:
            let slab = 1 << 20
            let pool = try SlabPool(
                slabSize: slab, maximumSlabs: max(1, (capacity * slotSize + slab - 1) / slab))
            var bulk = config
            bulk.expectedCapacity = nil
            bulk.recoveryLimit = pool.maximumSlabs * (slab / slotSize) + 1
            return try StressHammer.run(
                try VariableSizeAdapter(pool, slotSize: slotSize), allocatorName: name,
                config: bulk, reclaim: { RunPlan.reset(pool) }, tick: tick)
        case .freelist:
            let pool = try FreeList(
                configuration: FreeList.Configuration(
                    slotSize: slotSize, slotAlignment: 16, capacity: capacity))
            var exact = config
            exact.expectedCapacity = pool.capacity
            return try StressHammer.run(pool, allocatorName: name, config: exact, tick: tick)
        case .sharded:
            let pool = try ShardedFreeList(configuration: ShardedFreeList.Configuration(
                slotSize: slotSize, slotAlignment: 16, capacity: capacity))
            var exact = config
            exact.expectedCapacity = pool.capacity
            return try StressHammer.run(pool, allocatorName: name, config: exact, tick: tick)
        case .heap, .heapUnchecked:
            // Grows on demand: recovery asks for exactly `capacity` slots, twice.
            let heap = try SizeClassHeap(configuration: .init(checking: choice == .heap ? .checked : .unchecked))
            var grow = config
            grow.expectedCapacity = nil
            grow.unboundedAllocator = true
            grow.recoveryLimit = capacity
            var result = try StressHammer.run(
                try VariableSizeAdapter(heap, slotSize: slotSize), allocatorName: name,
                config: grow, tick: tick)
            RunPlan.checkLiveBlocksAtRest(heap, &result)
            return result
        }
    }

    /// One workload against a fresh `choice`, with the resident memory around it
    /// (``ResidentMemory``): measured once the workload freed everything, before the
    /// allocator goes away (`withExtendedLifetime`), so a cache it keeps counts.
    func runWorkload(
        _ kind: WorkloadKind, _ choice: AllocatorChoice, name: String
    ) throws(OffHeapError) -> WorkloadResult {
        let memory = ResidentMemory.start()
        func measured(_ result: WorkloadResult) -> WorkloadResult {
            var result = result
            result.facts += memory.finish()
            return result
        }
        switch choice {
        case .system:
            let allocator = try SystemAllocator(slotSize: workload.maxRequest(kind))
            let result = measured(try Workloads.run(kind, on: allocator, allocatorName: name, config: workload))
            withExtendedLifetime(allocator) {}
            return result
        case .arena:
            // Frees are no-ops: the run uses at most `bulkBytes` and then counts `exhausted`.
            let arena = try Arena(capacity: bulkBytes)
            let result = measured(try Workloads.run(kind, on: arena, allocatorName: name, config: workload))
            withExtendedLifetime(arena) {}
            return result
        case .slabpool:
            let slab = 1 << 20
            let pool = try SlabPool(slabSize: slab, maximumSlabs: max(1, bulkBytes / slab))
            let result = measured(try Workloads.run(kind, on: pool, allocatorName: name, config: workload))
            withExtendedLifetime(pool) {}
            return result
        case .freelist:
            // Fixed-size slots as large as the workload's largest request.
            let pool = try FreeList(
                configuration: FreeList.Configuration(
                    slotSize: workload.maxRequest(kind), slotAlignment: 16,
                    capacity: workload.liveBound(kind)))
            let result = measured(
                try Workloads.run(kind, on: FixedSizeAdapter(pool), allocatorName: name, config: workload))
            withExtendedLifetime(pool) {}
            return result
        case .sharded:
            let pool = try ShardedFreeList(configuration: ShardedFreeList.Configuration(
                slotSize: workload.maxRequest(kind), slotAlignment: 16,
                // Slack for slots parked in other threads' magazines (64 each).
                capacity: workload.liveBound(kind) + workload.threads * 2 * 64))
            let result = measured(
                try Workloads.run(kind, on: FixedSizeAdapter(pool), allocatorName: name, config: workload))
            withExtendedLifetime(pool) {}
            return result
        case .heap, .heapUnchecked:
            let heap = try SizeClassHeap(configuration: .init(checking: choice == .heap ? .checked : .unchecked))
            let result = measured(try Workloads.run(kind, on: heap, allocatorName: name, config: workload))
            withExtendedLifetime(heap) {}
            return result
        }
    }
}

extension RunPlan {
    /// The heap's recovery check for lost frees: a heap that grows on demand always finds
    /// `capacity` slots, so recovery cannot see a block that was freed but never returned.
    /// Its counters can: once every worker joined and every slot was freed (recovery frees
    /// what it took), `trim()` collects the remote frees still pending (the workers'
    /// pages are abandoned, the supervisor's are its own) and the heap must count 0 live
    /// blocks. Fact `heapLiveBlocksAtRest`; any other count fails recovery.
    static func checkLiveBlocksAtRest(_ heap: SizeClassHeap, _ result: inout WorkloadResult) {
        heap.trim()
        let statistics = heap.statistics
        var live = statistics.hugeBlocks
        for sizeClass in statistics.sizeClasses { live += sizeClass.inUseBlocks }
        result.facts.append(WorkloadFact(name: "heapLiveBlocksAtRest", value: Double(live)))
        if live != 0 { result.recovered = false }
    }

    static func reset(_ arena: Arena) -> Bool {
        do throws(OffHeapError) { try arena.reset() } catch { return false }
        return true
    }

    static func reset(_ pool: SlabPool) -> Bool {
        do throws(OffHeapError) { try pool.reset() } catch { return false }
        return true
    }
}

/// The process-wide stop request (SIGINT/SIGTERM through the shim's handlers).
public enum RunStop {
    /// Installs the shim's SIGINT/SIGTERM handlers (they only set a flag).
    public static func installHandlers() { _ = offheap_install_stop_signal_handlers() }
    public static var requested: Bool { offheap_stop_requested() != 0 }
}
