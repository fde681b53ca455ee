import COffHeapShims

/// Monotonic time from the platform layer (CLOCK_MONOTONIC), usable in the Embedded build
/// where `ContinuousClock` does not exist. Named so that it never shadows the standard
/// library's `Clock` protocol in code that imports OffHeap.
///
/// ```swift
/// let start = MonotonicClock.nanoseconds
/// work()
/// let elapsed = MonotonicClock.nanoseconds &- start
/// ```
@usableFromInline
package enum MonotonicClock {
    /// Monotonic nanoseconds (CLOCK_MONOTONIC).
    @inlinable @inline(__always)
    package static var nanoseconds: UInt64 { offheap_monotonic_ns() }
}
