import OffHeap

/// A value chosen by name from a fixed set: the allocators, workloads, stress roles and
/// Hyaline modes of ``RunOption``. The hosted `offheap` CLI lists ``allCases`` with their
/// ``summary`` in `--help` and in the error for an unknown name; the Embedded engine parses
/// the same names.
///
/// ```swift
/// AllocatorChoice(name: "heap-unchecked")           // .heapUnchecked
/// StressRole.allCases.map { $0.name }                // ["bounce", "publisher", …]
/// ```
public protocol RunChoice: CaseIterable, Equatable, Sendable {
    /// The name on the command line and in the run document.
    var name: String { get }
    /// One line for `--help`: what choosing this value does.
    var summary: String { get }
    /// The case called `name`, or `nil`.
    init?(name: String)
    /// Whether `all` includes this case (`stalled` is a role only when named).
    var isInAll: Bool { get }
    /// The option whose values these are.
    static var option: RunOption { get }
}

extension RunChoice {
    /// Every case is in `all` unless the type says otherwise.
    public var isInAll: Bool { true }
}

extension AllocatorChoice: RunChoice {
    /// One line for `--help`.
    public var summary: String {
        switch self {
        case .freelist: return "FreeList: one lock-free stack of fixed-size slots"
        case .sharded: return "ShardedFreeList: per-thread shards of fixed-size slots"
        case .arena: return "Arena: bump allocation, freed all at once"
        case .slabpool: return "SlabPool: fixed-size slabs, freed all at once"
        case .heap: return "SizeClassHeap, checked (double frees are typed errors)"
        case .heapUnchecked: return "SizeClassHeap, unchecked (like malloc: no double-free check)"
        case .system: return "the C library's malloc (or the preloaded peer)"
        }
    }
}

extension AllocatorChoice {
    /// `--allocator`.
    public static var option: RunOption { .allocator }
    /// `all` selects the allocators this build has.
    public var isInAll: Bool { isAvailable }
}

extension WorkloadKind: RunChoice {
    /// `--workload`.
    public static var option: RunOption { .workload }

    /// One line for `--help`.
    public var summary: String {
        switch self {
        case .rag: return "RAG index build and top-k queries, then per-vector churn"
        case .larson: return "Larson server churn, stashes handed to new threads"
        case .randomMixed: return "random sizes over a per-thread working set"
        case .producerConsumer: return "producers allocate, consumers on other threads free"
        case .threadChurn: return "threads exit holding memory, the next generation frees it"
        case .cacheScratch: return "small objects written hard by each thread (false sharing)"
        }
    }
}

extension StressRole: RunChoice {
    /// `--roles`.
    public static var option: RunOption { .roles }

    /// Every role, `stalled` included (``all`` is every role but `stalled`).
    public static var allCases: [StressRole] { all + [.stalled] }

    /// `all` is every role but `stalled`.
    public var isInAll: Bool { self != .stalled }

    /// One line for `--help`.
    public var summary: String {
        switch self {
        case .bounce: return "allocate, write, verify, free"
        case .publisher: return "publish slots into mailbox cells (needs readers)"
        case .reader: return "take published slots, verify, free them cross-thread"
        case .burst: return "allocate a batch, verify all, free all"
        case .retire: return "keep the last slots alive, free the oldest"
        case .stalled: return "a Hyaline reader that stays inside the whole run"
        }
    }
}

/// How publisher/reader stress workers hand slots over (`--hyaline`).
///
/// ```swift
/// HyalineMode(name: "mixed")   // .mixed: even mailbox cells under Hyaline, odd by exchange
/// ```
@frozen
public enum HyalineMode: RunChoice {
    /// Readers validate published slots in place under a Hyaline guard; publishers retire.
    case on
    /// Even mailbox cells under Hyaline, odd cells taken and freed by readers.
    case mixed
    /// Readers take slots out by exchange and free them.
    case off

    /// `--hyaline`.
    public static var option: RunOption { .hyaline }

    public var name: String {
        switch self {
        case .on: return "on"
        case .mixed: return "mixed"
        case .off: return "off"
        }
    }

    public init?(name: String) {
        switch name {
        case "on": self = .on
        case "mixed": self = .mixed
        case "off": self = .off
        default: return nil
        }
    }

    /// One line for `--help`.
    public var summary: String {
        switch self {
        case .on: return "readers validate in place under a Hyaline guard, publishers retire"
        case .mixed: return "even mailbox cells under Hyaline, odd cells taken and freed by readers"
        case .off: return "readers take slots by exchange and free them"
        }
    }

    /// The mode a stress configuration runs.
    public init(_ config: StressConfig) {
        self = !config.hyaline ? .off : config.hyalineMixed ? .mixed : .on
    }

    /// Sets ``StressConfig/hyaline`` and ``StressConfig/hyalineMixed``.
    public func apply(to config: inout StressConfig) {
        config.hyaline = self != .off
        config.hyalineMixed = self == .mixed
    }
}

/// On or off (`--hyaline-controller`).
@frozen
public enum OnOff: RunChoice {
    case on, off

    /// `--hyaline-controller`.
    public static var option: RunOption { .hyalineController }

    public var name: String { self == .on ? "on" : "off" }

    public init?(name: String) {
        switch name {
        case "on": self = .on
        case "off": self = .off
        default: return nil
        }
    }

    /// One line for `--help`.
    public var summary: String { self == .on ? "enabled" : "disabled" }
}
