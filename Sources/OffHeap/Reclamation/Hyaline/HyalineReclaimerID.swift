/// A registered ``HyalineReclaimer``: a small index into its domain's table.
@frozen
public struct HyalineReclaimerID: Hashable, Sendable {
    /// The index in the domain's reclaimer table.
    public let rawValue: UInt32
    /// The id with index `rawValue` (use the one ``HyalineDomain/register(_:)`` returns).
    @inlinable package init(rawValue: UInt32) { self.rawValue = rawValue }
}
