import Synchronization

/// A thread's table of caches, one column per pool id, in off-heap memory from
/// ``ShardedRuntime``'s record reservation. The calling thread reaches it through the
/// initial-exec TLS slot ``ThreadLocalSlot/shardedFreeListCaches``, which holds the
/// record's byte offset from the reservation's base (see ``ShardedRuntime``).
///
/// Invariant: a record belongs to at most one live thread (it is taken from the runtime's
/// free stack by ``ShardedRuntime/acquireRecord()`` and pushed back by the thread-exit hook
/// after every cache in it was flushed and unstamped). Header: `poolLink 0` (free-stack link,
/// `Atomic`), `activeMask 8` (ids this thread stamped; owner only), `index 16`.
@frozen @usableFromInline
internal struct ShardedThreadRecord {
    @usableFromInline internal static let headerBytes = 64
    @usableFromInline internal static let stride = VirtualMemory.roundUp(
        headerBytes + ShardedFreeList.maximumLiveInstances * ShardedThreadCache.stride,
        to: VirtualMemory.pageSize)

    @usableFromInline internal let raw: UnsafeMutableRawPointer

    @inlinable @inline(__always)
    internal init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    @inlinable @inline(__always)
    internal func cache(_ id: Int) -> ShardedThreadCache {
        ShardedThreadCache(raw + Self.headerBytes + id &* ShardedThreadCache.stride)
    }

    internal var poolLink: UnsafeMutablePointer<Atomic<UInt64>> {
        raw.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    internal var activeMask: UInt64 {
        get { raw.load(fromByteOffset: 8, as: UInt64.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 8, as: UInt64.self) }
    }

    internal var index: UInt32 {
        get { raw.load(fromByteOffset: 16, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 16, as: UInt32.self) }
    }
}
