/// A fixed log-bucket latency histogram: 16 linear sub-buckets per power of two, so every
/// recorded value is kept within 1/16 (6.25 %) of its true value, with no allocation while
/// recording. The Embedded engine reports percentiles from it; the hosted side re-records
/// its buckets into an HdrHistogram.
///
/// ```swift
/// var h = LatencyHistogram()
/// h.record(120)
/// h.record(95)
/// let p50 = h.percentile(50)   // ≈ 95
/// ```
public struct LatencyHistogram: Sendable {
    /// Sub-buckets per power of two (2^4).
    public static let subBucketBits = 4
    /// Number of buckets: values below 16 exactly, then 60 octaves of 16.
    public static let bucketCount = 16 + 60 * 16

    public private(set) var counts: [UInt64]
    public private(set) var totalCount: UInt64 = 0
    public private(set) var minimum: UInt64 = .max
    public private(set) var maximum: UInt64 = 0

    public init() {
        counts = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
    }

    /// Bucket of `value`: exact below 16, else (octave, top four bits below the leading one).
    @inlinable
    public static func bucket(of value: UInt64) -> Int {
        if value < 16 { return Int(value) }
        let octave = 63 - value.leadingZeroBitCount           // ≥ 4
        let sub = Int((value >> UInt64(octave - subBucketBits)) & 15)
        return 16 + (octave - subBucketBits) * 16 + sub
    }

    /// Smallest value that falls into `bucket`.
    @inlinable
    public static func lowerBound(of bucket: Int) -> UInt64 {
        if bucket < 16 { return UInt64(bucket) }
        let octave = (bucket - 16) / 16 + subBucketBits
        let sub = UInt64((bucket - 16) % 16)
        return (16 + sub) << UInt64(octave - subBucketBits)
    }

    /// Largest value that falls into `bucket`.
    @inlinable
    public static func upperBound(of bucket: Int) -> UInt64 {
        if bucket < 16 { return UInt64(bucket) }
        if bucket + 1 >= bucketCount { return .max }
        return lowerBound(of: bucket + 1) - 1
    }

    public mutating func record(_ value: UInt64, count: UInt64 = 1) {
        counts[LatencyHistogram.bucket(of: value)] &+= count
        totalCount &+= count
        if value < minimum { minimum = value }
        if value > maximum { maximum = value }
    }

    /// Adds every count of `other`.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in 0..<counts.count { counts[index] &+= other.counts[index] }
        totalCount &+= other.totalCount
        if other.minimum < minimum { minimum = other.minimum }
        if other.maximum > maximum { maximum = other.maximum }
    }

    /// The value at `percent` (0...100): the midpoint of the bucket holding that rank,
    /// clamped to the recorded minimum and maximum (the maximum itself for the top rank);
    /// 0 when empty.
    public func percentile(_ percent: Double) -> UInt64 {
        guard totalCount > 0 else { return 0 }
        let clamped = percent < 0 ? 0 : (percent > 100 ? 100 : percent)
        var rank = UInt64((clamped / 100 * Double(totalCount)).rounded(.up))
        if rank == 0 { rank = 1 }
        if rank >= totalCount { return maximum }
        var seen: UInt64 = 0
        for index in 0..<counts.count where counts[index] != 0 {
            seen &+= counts[index]
            if seen >= rank {
                let low = LatencyHistogram.lowerBound(of: index)
                let high = LatencyHistogram.upperBound(of: index)
                var mid = low + (high - low) / 2
                if mid < minimum { mid = minimum }
                if mid > maximum { mid = maximum }
                return mid
            }
        }
        return maximum
    }
}
