import OffHeap

extension RunPlan {
    /// The result of parsing an `offheap-engine` command line.
    public struct Invocation: Sendable {
        public var plan: RunPlan
        /// `--json FILE` (`-` for standard output), if given.
        public var jsonPath: String?
    }

    /// Usage text of the tiny parser (the Embedded `offheap-engine`), generated from
    /// ``RunOption``: every option of each command with its value's name.
    public static var usage: String {
        var text = "usage: offheap-engine stress|bench [options]   (also: probe, selfcheck)"
        for command in [Command.stress, Command.bench] {
            var line = "  \(command.name):"
            for option in RunOption.allCases where option.applies(to: command) {
                let item = " [\(option.synopsis)]"
                if line.utf8.count + item.utf8.count > 92 {
                    text += "\n" + line
                    line = "   "
                }
                line += item
            }
            text += "\n" + line
        }
        return text
    }

    /// Parses `stress|bench` and the options of ``RunOption`` (the same names and values as
    /// the hosted `offheap` CLI). Every problem is a typed `.invalidConfiguration` naming it.
    ///
    /// ```swift
    /// let invocation = try RunPlan.parse(["stress", "--threads", "4", "--duration", "2s"])
    /// ```
    public static func parse(_ arguments: [String]) throws(OffHeapError) -> Invocation {
        guard let first = arguments.first else {
            throw .invalidConfiguration(reason: "missing command: stress or bench")
        }
        var plan: RunPlan
        switch first {
        case "stress": plan = RunPlan(command: .stress)
        case "bench": plan = RunPlan(command: .bench)
        default: throw .invalidConfiguration(reason: "command must be stress or bench")
        }
        var jsonPath: String?
        var sawDuration = false
        var sawOperations = false
        var index = 1
        while index < arguments.count {
            guard let option = RunOption(flag: arguments[index]) else {
                throw .invalidConfiguration(reason: "unknown option (see usage)")
            }
            guard option.applies(to: plan.command) else {
                throw .invalidConfiguration(reason: "option belongs to the other command (see usage)")
            }
            index += 1
            var value = ""
            if option.value != .flag {
                guard index < arguments.count else {
                    throw .invalidConfiguration(reason: "an option is missing its value")
                }
                value = arguments[index]
                index += 1
            }
            if option == .duration { sawDuration = true }
            if option == .operations { sawOperations = true }
            if option == .json { jsonPath = value }
            try plan.apply(option, value)
        }
        if sawDuration && sawOperations {
            throw .invalidConfiguration(reason: "give --duration or --operations, not both")
        }
        try plan.validate()
        return Invocation(plan: plan, jsonPath: jsonPath)
    }

    /// Sets what `option` with `value` (empty for a flag) sets; `--json` sets nothing here.
    public mutating func apply(_ option: RunOption, _ value: String) throws(OffHeapError) {
        switch option {
        case .allocator: allocators = try RunPlan.choices(value, option)
        case .workload: workloads = try RunPlan.choices(value, option)
        case .sizes: sizeSweep = try RunPlan.integerList(value, .sizes)
        case .roles: stress.roles = try RunPlan.choices(value, option)
        case .hyaline:
            guard let mode = HyalineMode(name: value) else { throw .invalidConfiguration(reason: option.invalidReason) }
            mode.apply(to: &stress)
        case .noHyaline: HyalineMode.off.apply(to: &stress)
        case .hyalineController:
            guard let on = OnOff(name: value) else { throw .invalidConfiguration(reason: option.invalidReason) }
            stress.hyalineController = on == .on
        case .json: break
        case .duration:
            let limit: RunLimit
            do throws(OffHeapError) { limit = try RunLimit.parseDuration(value) } catch {
                throw .invalidConfiguration(reason: option.invalidReason)
            }
            stress.limit = limit
            workload.limit = limit
        case .interval:
            guard case .duration(let ns)? = try? RunLimit.parseDuration(value),
                ns % 1_000_000 == 0, let range = option.range,
                range.contains(Int(ns / 1_000_000))
            else { throw .invalidConfiguration(reason: option.invalidReason) }
            stress.intervalNanoseconds = ns
        case .operations:
            let limit = RunLimit.operations(UInt64(try RunPlan.integer(value, option)))
            stress.limit = limit
            workload.limit = limit
        case .threads:
            let counts = try RunPlan.threadCounts(value, for: command)
            stress.threads = counts[0]
            workload.threads = counts[0]
            threadSweep = counts.count > 1 ? counts : nil
        case .seed:
            let seed = UInt64(try RunPlan.integer(value, option))
            stress.seed = seed
            workload.seed = seed
        case .sampleEvery:
            let n = try RunPlan.integer(value, option)
            stress.sampleEvery = n
            workload.sampleEvery = n
        case .slotSize: slotSize = try RunPlan.integer(value, option)
        case .capacity: capacity = try RunPlan.integer(value, option)
        case .hyalineBudget: stress.hyalineBudget = try RunPlan.integer(value, option)
        case .plantCorruption: stress.plantCorruptionEvery = try RunPlan.integer(value, option)
        case .burstSize: stress.burstSize = try RunPlan.integer(value, option)
        case .retireDepth: stress.retireDepth = try RunPlan.integer(value, option)
        case .mailboxSize: stress.mailboxSize = try RunPlan.integer(value, option)
        case .minSize: workload.minSize = try RunPlan.integer(value, option)
        case .maxSize: workload.maxSize = try RunPlan.integer(value, option)
        case .workingSet: workload.workingSet = try RunPlan.integer(value, option)
        case .ragDimensions: workload.ragDimensions = try RunPlan.integer(value, option)
        case .ragVectors: workload.ragVectors = try RunPlan.integer(value, option)
        case .ragQueries: workload.ragQueries = try RunPlan.integer(value, option)
        case .ragTopK: workload.ragTopK = try RunPlan.integer(value, option)
        case .larsonBlocks: workload.larsonBlocks = try RunPlan.integer(value, option)
        case .larsonRounds: workload.larsonRounds = try RunPlan.integer(value, option)
        case .ringSize: workload.ringSize = try RunPlan.integer(value, option)
        case .churnBlocks: workload.churnBlocks = try RunPlan.integer(value, option)
        case .scratchSize: workload.scratchSize = try RunPlan.integer(value, option)
        case .scratchWrites: workload.scratchWrites = try RunPlan.integer(value, option)
        }
    }

    /// `--threads`: one count (`stress`), or a comma list of distinct counts (`bench`, a
    /// scaling sweep: `1,2,4`), each in ``RunOption/threads``' range.
    public static func threadCounts(
        _ text: String, for command: Command
    ) throws(OffHeapError) -> [Int] {
        let counts = try integerList(text, .threads)
        guard command == .bench || counts.count == 1 else {
            throw .invalidConfiguration(reason: "stress takes one --threads count (bench takes a list)")
        }
        return counts
    }

    /// A comma list of distinct integers, each in `option`'s ``RunOption/range``.
    public static func integerList(_ text: String, _ option: RunOption) throws(OffHeapError) -> [Int] {
        var values: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let value = try integer(String(part), option)
            guard !values.contains(value) else {
                throw .invalidConfiguration(reason: "a comma list names a value twice")
            }
            values.append(value)
        }
        return values
    }

    /// An integer in `option`'s ``RunOption/range``, or its ``RunOption/invalidReason``.
    static func integer(_ text: String, _ option: RunOption) throws(OffHeapError) -> Int {
        try integer(text, in: option.range ?? 0...0, option.invalidReason)
    }

    /// `all` (every case whose ``RunChoice/isInAll``)
    /// or a comma list of names; an unknown name is `option`'s ``RunOption/invalidReason``.
    public static func choices<C: RunChoice>(
        _ text: String, _ option: RunOption = C.option
    ) throws(OffHeapError) -> [C] {
        if text == "all" {
            var every: [C] = []
            for choice in C.allCases where choice.isInAll { every.append(choice) }
            return every
        }
        var chosen: [C] = []
        for part in text.split(separator: ",") {
            guard let choice = C(name: String(part)) else {
                throw .invalidConfiguration(reason: option.invalidReason)
            }
            // Roles repeat on purpose (round-robin); allocators and workloads run once each.
            if option == .roles || !chosen.contains(choice) { chosen.append(choice) }
        }
        guard !chosen.isEmpty else { throw .invalidConfiguration(reason: option.invalidReason) }
        return chosen
    }

    /// A decimal integer in `range`, or `.invalidConfiguration`.
    public static func integer(
        _ text: String, in range: ClosedRange<Int>, _ reason: StaticString
    ) throws(OffHeapError) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw .invalidConfiguration(reason: reason)
        }
        return value
    }
}
