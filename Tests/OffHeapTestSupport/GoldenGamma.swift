/// ⌊2⁶⁴/φ⌋, odd: the Weyl increment of SplitMix64 and the Fibonacci-hashing multiplier the
/// tests' patterns and random streams use.
///
/// ```swift
/// var state = seed
/// state &+= goldenGamma        // next SplitMix64 state
/// ```
public let goldenGamma: UInt64 = 0x9E37_79B9_7F4A_7C15
