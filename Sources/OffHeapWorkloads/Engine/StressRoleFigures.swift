/// What the workers of one stress role did in one run: the per-role row of a stress result
/// (`roles` in the run document), so a report shows that every role ran and which role's
/// checks found what.
///
/// ```swift
/// let result = try StressHammer.run(pool, allocatorName: "freelist", config: config)
/// for row in result.roles { print(row.role, row.lanes, row.operations, row.corruption) }
/// ```
public struct StressRoleFigures: Equatable, Sendable {
    /// ``StressRole/name``.
    public var role: String
    /// Worker threads that had this role.
    public var lanes: Int
    /// Allocate+free cycles counted by these workers (readers count none).
    public var operations: UInt64 = 0
    /// Slots validated in place (readers under Hyaline).
    public var validations: UInt64 = 0
    /// Slots freed here that another thread allocated.
    public var crossThreadFrees: UInt64 = 0
    /// Failed pattern checks by these workers.
    public var corruption: UInt64 = 0
    /// Typed errors other than `.exhausted`.
    public var errors: UInt64 = 0
    /// `.exhausted` refusals.
    public var exhausted: UInt64 = 0

    public init(role: String, lanes: Int) {
        self.role = role
        self.lanes = lanes
    }

    /// Adds one worker's tally.
    public mutating func add(_ tally: WorkerTally) {
        operations &+= tally.operations
        validations &+= tally.validations
        crossThreadFrees &+= tally.crossThreadFrees
        corruption &+= tally.corruption
        errors &+= tally.errors
        exhausted &+= tally.exhausted
    }
}
