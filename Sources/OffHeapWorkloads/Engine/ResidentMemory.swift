import COffHeapHostShims

/// The process's resident memory around one workload run, as mimalloc-bench reports it:
/// the peak while the workload ran and what stays resident once it freed every block (the
/// allocator still alive: what a long-running program keeps after a burst).
///
/// ```swift
/// let before = ResidentMemory.start()
/// // … run the workload, free everything …
/// result.facts += before.finish()   // rssPeakBytes, rssAfterFreeBytes, rssBaseBytes
/// ```
///
/// Figures come from /proc/self/status (`VmHWM`, `VmRSS`), the peak reset to the current
/// resident set first (/proc/self/clear_refs). They cover the whole process, so the rows of
/// one run are comparable (same binary, same baseline `rssBaseBytes`); where the kernel
/// refuses the reset or /proc is missing, no fact is reported rather than a wrong one.
public struct ResidentMemory: Sendable {
    /// Resident bytes when the run started, or `nil` when /proc cannot be read.
    public var baseBytes: UInt64?
    /// Whether the peak was reset at the start (otherwise the peak would be the process's).
    public var peakWasReset: Bool

    /// Resets the peak and reads the starting resident set.
    public static func start() -> ResidentMemory {
        let reset = offheap_reset_resident_peak() == 0
        var current: UInt64 = 0
        var peak: UInt64 = 0
        let read = offheap_resident_bytes(&current, &peak) == 0
        return ResidentMemory(baseBytes: read ? current : nil, peakWasReset: reset)
    }

    /// The facts `rssBaseBytes`, `rssPeakBytes` and `rssAfterFreeBytes`, or none.
    public func finish() -> [WorkloadFact] {
        guard let baseBytes, peakWasReset else { return [] }
        var current: UInt64 = 0
        var peak: UInt64 = 0
        guard offheap_resident_bytes(&current, &peak) == 0 else { return [] }
        return [
            WorkloadFact(name: "rssBaseBytes", value: Double(baseBytes)),
            WorkloadFact(name: "rssPeakBytes", value: Double(max(peak, current))),
            WorkloadFact(name: "rssAfterFreeBytes", value: Double(current)),
        ]
    }
}
