@testable import OffHeap

extension HyalineDomain {
    /// A domain that has a runtime row (sticky slots, private record lists). The runtime has
    /// 256 rows; a test that keeps more domains alive (`domainsBeyondTheRuntimeRows…`, the
    /// row-less retire test) may run beside the caller, and a domain created meanwhile has
    /// none. Tests of the row's behaviour need one: retry until a row is free (those tests
    /// hold the rows for milliseconds), and fail after 10 s.
    public static func withRuntimeRow(_ configuration: Configuration) throws -> HyalineDomain {
        let deadline = MonotonicClock.nanoseconds + 10_000_000_000
        while true {
            let domain = try HyalineDomain(configuration: configuration)
            if domain.registryRow >= 0 || MonotonicClock.nanoseconds > deadline { return domain }
            PlatformThread.sleep(nanoseconds: 1_000_000)
        }
    }
}
