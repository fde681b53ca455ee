/// A small, fast, seedable generator (xorshift64*) for workloads: every thread has its own,
/// so choices are reproducible per seed and cost no synchronisation.
@frozen
public struct WorkloadRandom: Sendable {
    @usableFromInline internal var state: UInt64

    /// `seed` is mixed (splitmix64) so nearby seeds give unrelated streams; never zero.
    @inlinable
    public init(seed: UInt64) {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        state = z == 0 ? 0x2545_F491_4F6C_DD1D : z
    }

    @inlinable
    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// Uniform in `0..<bound` (bound > 0; multiply-shift, negligible bias for small bounds).
    @inlinable
    public mutating func next(below bound: Int) -> Int {
        Int(truncatingIfNeeded: (next() >> 32) &* UInt64(bound) >> 32)
    }

    /// Uniform in `range`.
    @inlinable
    public mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + next(below: range.upperBound - range.lowerBound + 1)
    }

    /// Uniform in [-1, 1).
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(Int32(truncatingIfNeeded: next() >> 32)) / 2_147_483_648
    }
}
