import COffHeapShims

/// A pthread mutex in off-heap storage, for baselines (benchmarks compare the lock-free
/// structures against a mutex-protected array) and for tests. Not
/// `Synchronization.Mutex`: that one is reported as racy by TSan under contention.
///
/// ```swift
/// let mutex = try PlatformMutex()
/// mutex.withLock { counter += 1 }
/// ```
@usableFromInline
package final class PlatformMutex: @unchecked Sendable {
    // @unchecked Sendable: the pthread mutex serialises every access it guards.
    @usableFromInline internal let region: VirtualRegion

    /// - Throws: ``OffHeapError/mappingFailed(errno:)`` when the storage cannot be mapped.
    package init() throws(OffHeapError) {
        region = try VirtualMemory.reserve(
            byteCount: max(offheap_mutex_size(), 64), committed: true)
        _ = offheap_mutex_init(region.base)
    }

    deinit {
        _ = offheap_mutex_destroy(region.base)
        try? VirtualMemory.release(region)
    }

    @inlinable package func lock() { _ = offheap_mutex_lock(region.base) }
    @inlinable package func unlock() { _ = offheap_mutex_unlock(region.base) }

    /// Runs `body` with the mutex held.
    @inlinable
    package func withLock<Result, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}
