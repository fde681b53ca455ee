import OffHeap

/// What one stress worker does with each slot.
@frozen
public enum StressRole: Equatable, Sendable {
    /// Allocate, write the pattern, verify it, free: one operation per slot.
    case bounce
    /// Allocate, write, publish into a mailbox cell; a displaced slot is verified and freed.
    case publisher
    /// Take published slots out of the mailboxes, verify the publisher's pattern, free them
    /// (cross-thread free). Readers count no operations: each slot was counted once, by its
    /// publisher.
    case reader
    /// Allocate a batch, write all, verify all, free all: one operation per slot.
    case burst
    /// Keep the last `retireDepth` slots alive and verify and free the oldest on each new
    /// allocation (deferred reclamation without an SMR domain).
    case retire
    /// Under Hyaline (needs publishers): enter the domain, publish an access era, and stay
    /// inside until the publishers finish, sampling the domain's unreclaimed count: the
    /// Hyaline-S robustness check (a stalled reader pins a bounded number of nodes). Counts
    /// no operations; reports `hyalineStalledPeak` and `hyalineStalledBound`.
    case stalled

    public var name: String {
        switch self {
        case .bounce: return "bounce"
        case .publisher: return "publisher"
        case .reader: return "reader"
        case .burst: return "burst"
        case .retire: return "retire"
        case .stalled: return "stalled"
        }
    }

    public init?(name: String) {
        switch name {
        case "bounce": self = .bounce
        case "publisher": self = .publisher
        case "reader": self = .reader
        case "burst": self = .burst
        case "retire": self = .retire
        case "stalled": self = .stalled
        default: return nil
        }
    }

    /// Every role, in the round-robin order `all` assigns them.
    public static let all: [StressRole] = [.bounce, .publisher, .reader, .burst, .retire]

    /// Parses `all` or a comma-separated role list (`bounce,publisher,reader`).
    public static func parseList(_ text: String) throws(OffHeapError) -> [StressRole] {
        try RunPlan.choices(text, .roles)
    }
}

/// Options of the stress hammer; every size and count is an option, never a constant.
public struct StressConfig: Sendable {
    public var threads: Int = 2
    public var limit: RunLimit = .duration(nanoseconds: 1_000_000_000)
    /// Roles assigned to workers round-robin (worker `i` gets `roles[i % roles.count]`).
    public var roles: [StressRole] = [.bounce]
    /// Slots per burst.
    public var burstSize: Int = 32
    /// Slots a retire worker keeps alive.
    public var retireDepth: Int = 64
    /// Mailbox cells per publisher.
    public var mailboxSize: Int = 64
    /// Time one operation in every `sampleEvery` (power of two).
    public var sampleEvery: Int = 64
    /// Slots the allocator must hand out again in the recovery phase (its capacity); `nil`
    /// when unknown: then the phase allocates until exhaustion errors (`isExhaustion`) or `recoveryLimit`.
    public var expectedCapacity: Int?
    /// Most slots the recovery phase allocates.
    public var recoveryLimit: Int = 1 << 22
    /// The allocator grows on demand: recovery then expects exactly `recoveryLimit` slots.
    public var unboundedAllocator = false
    /// Publisher/reader through a Hyaline domain: readers validate published slots in place
    /// under a guard and publishers retire displaced slots (false: readers take slots out
    /// with an exchange and free them).
    public var hyaline: Bool = true
    /// With ``hyaline``: only even mailbox cells go through the domain; odd cells use the
    /// exchange, so readers also take slots out and free them on their own thread (a
    /// cross-thread free with a content check) in the same run (`--hyaline mixed`).
    public var hyalineMixed: Bool = false
    /// With ``hyaline``: run the domain's PI threshold controller
    /// (``HyalineThresholdController``) against the exchange's slot budget.
    public var hyalineController: Bool = false
    /// Slots the Hyaline exchange may hold (published plus retired, not yet reclaimed): the
    /// capacity the reclaimer reports its free fraction against, which the PI controller
    /// reads; `nil`: twice the mailbox cells under Hyaline, so a backlog of retired slots
    /// is real pressure.
    public var hyalineBudget: Int?
    /// A planted defect for tests and the pipeline's self-test: every `n`-th slot a worker
    /// writes gets a damaged pattern (0 = never). Each role's check must count it.
    public var plantCorruptionEvery: Int = 0
    /// Whether to run the exhaustion-and-recovery phase at all.
    public var recovery: Bool = true
    /// Timeline sampling interval.
    public var intervalNanoseconds: UInt64 = 100_000_000
    /// Whether SIGINT/SIGTERM stop the run.
    public var observeSignals: Bool = false
    public var seed: UInt64 = 1

    public init() {}

    /// The role of worker `lane`.
    public func role(of lane: Int) -> StressRole { roles[lane % roles.count] }

    /// Rejects impossible combinations with a typed error.
    public func validate() throws(OffHeapError) {
        guard threads >= 1, threads <= 4096 else {
            throw .invalidConfiguration(reason: "threads must be in 1...4096")
        }
        guard burstSize >= 1, burstSize <= 1 << 16 else {
            throw .invalidConfiguration(reason: "burst size must be in 1...65536")
        }
        guard retireDepth >= 1, retireDepth <= 1 << 20 else {
            throw .invalidConfiguration(reason: "retire depth must be in 1...1048576")
        }
        guard mailboxSize >= 1, mailboxSize <= 1 << 16 else {
            throw .invalidConfiguration(reason: "mailbox size must be in 1...65536")
        }
        guard sampleEvery >= 1, sampleEvery & (sampleEvery - 1) == 0 else {
            throw .invalidConfiguration(reason: "sample interval must be a power of two")
        }
        guard !roles.isEmpty else { throw .invalidConfiguration(reason: "roles must not be empty") }
        var publishers = 0
        var readers = 0
        var stalled = 0
        for lane in 0..<threads {
            switch role(of: lane) {
            case .publisher: publishers += 1
            case .reader: readers += 1
            case .stalled: stalled += 1
            default: break
            }
        }
        if (publishers == 0) != (readers == 0) {
            throw .invalidConfiguration(reason: "publishers and readers must come together")
        }
        if stalled > 0 && (publishers == 0 || !hyaline) {
            throw .invalidConfiguration(reason: "stalled readers need publishers and --hyaline on")
        }
        guard plantCorruptionEvery >= 0 else {
            throw .invalidConfiguration(reason: "planted corruption period must not be negative")
        }
        if let budget = hyalineBudget, budget < 1 {
            throw .invalidConfiguration(reason: "Hyaline budget must be positive")
        }
        if let capacity = expectedCapacity, capacity < 1 {
            throw .invalidConfiguration(reason: "capacity must be positive")
        }
    }
}
