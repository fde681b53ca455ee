import COffHeapShims

/// The owners of the shim's initial-exec thread-local slots.
///
/// Each slot is one pointer per thread, read with a single TLS-relative load; a subsystem
/// that needs per-thread state keeps a pointer to its own off-heap record in its slot.
/// Slots are assigned here, centrally, so two subsystems never share one.
@frozen
@usableFromInline
package enum ThreadLocalSlot: UInt32, Sendable {
    /// `ShardedFreeList`: the calling thread's table of magazines, by instance id, stored as
    /// its byte offset in the runtime's record reservation (nil/0: none yet), so the hot
    /// path adds it to a per-pool base without a nil test.
    case shardedFreeListCaches = 0
    /// `SizeClassHeap`: the calling thread's heap.
    case sizeClassHeap = 1
    /// Hyaline: the calling thread's reclamation record, by domain id.
    case hyaline = 2
    /// Free for tests and workloads.
    case scratch = 7

    /// The calling thread's value of this slot (`nil` until set).
    @inlinable @inline(__always)
    package var value: UnsafeMutableRawPointer? {
        get { offheap_tls_get(rawValue) }
        nonmutating set { offheap_tls_set(rawValue, newValue) }
    }
}
