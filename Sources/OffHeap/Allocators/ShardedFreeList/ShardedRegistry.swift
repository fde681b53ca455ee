import COffHeapShims
import Synchronization

/// Process-wide table of live ``ShardedFreeList`` instances, one row per instance id.
///
/// Every thread's cache table has one column per id, so a thread finds its cache for a pool
/// by the pool's id alone; the row's *generation* tells a live pool's column from a stale one
/// left behind by a destroyed pool that had the same id.
///
/// Invariant, per row: `state = generation << 32 | active << 31 | pins` (pins < 2³¹).
/// - A pool *claims* a row with one CAS from `active == 0 && pins == 0` to
///   `generation + 1, active`, then publishes its global list in `list` (release).
/// - A thread that exits *pins* the row with a CAS that requires `active` and the
///   generation its cache was stamped with; only while pinned does it touch the pool's global
///   list (read from `list` with acquire) or its folded counters. It unpins with one
///   subtract (release).
/// - A pool's deinit clears `active` with a CAS, then waits until `pins == 0` (acquire);
///   after that no thread can reach its list, so it may release the list and unmap.
/// All three are cold paths (construction, thread exit, destruction); the allocation hot
/// path never reads this table.
@usableFromInline
internal struct ShardedRegistry: @unchecked Sendable {
    // @unchecked Sendable: a pointer to process-lifetime off-heap rows, all fields `Atomic`.

    @usableFromInline internal static let rowBytes = 128
    static let activeBit: UInt64 = 1 << 31
    static let pinMask: UInt64 = (1 << 31) - 1

    /// Counters of exited threads, folded into the row, by field offset.
    enum Counter: Int {
        case hits = 2, misses, refills, flushes
    }

    let rows: UnsafeMutableRawPointer

    init(rows: UnsafeMutableRawPointer) {
        self.rows = rows
    }

    @inline(__always)
    func word(_ id: Int, _ field: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (rows + id * Self.rowBytes + field * 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always) func state(_ id: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { word(id, 0) }
    @inline(__always) func list(_ id: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { word(id, 1) }
    @inline(__always) func counter(_ id: Int, _ counter: Counter) -> UnsafeMutablePointer<Atomic<UInt64>> {
        word(id, counter.rawValue)
    }

    /// Claims a free row for `list`; returns its id and new generation (never 0).
    func claim(list: ShardedFreeList.GlobalList) throws(OffHeapError) -> (id: Int, generation: UInt32) {
        for id in 0..<ShardedFreeList.maximumLiveInstances {
            var current = state(id).pointee.load(ordering: .acquiring)
            while current & (Self.activeBit | Self.pinMask) == 0 {
                var generation = UInt32(truncatingIfNeeded: current >> 32) &+ 1
                if generation == 0 { generation = 1 }
                let desired = UInt64(generation) << 32 | Self.activeBit
                let (exchanged, original) = state(id).pointee.compareExchange(
                    expected: current, desired: desired, ordering: .acquiringAndReleasing)
                if exchanged {
                    for field in Counter.hits.rawValue...Counter.flushes.rawValue {
                        word(id, field).pointee.store(0, ordering: .relaxed)
                    }
                    // Unretained: the pool's stored `global` keeps the list alive until its
                    // deinit has returned from `retire`, after which no thread can pin.
                    let raw = Unmanaged.passUnretained(list).toOpaque()
                    self.list(id).pointee.store(
                        UInt64(UInt(bitPattern: raw)), ordering: .releasing)
                    return (id, generation)
                }
                current = original
            }
        }
        throw .tooManyLivePools(limit: ShardedFreeList.maximumLiveInstances)
    }

    /// Pins row `id` if it is still active with `generation`; returns the pool's global list.
    /// Balance with ``unpin(_:)``.
    func pin(_ id: Int, generation: UInt32) -> Unmanaged<ShardedFreeList.GlobalList>? {
        var current = state(id).pointee.load(ordering: .acquiring)
        while current & Self.activeBit != 0,
            UInt32(truncatingIfNeeded: current >> 32) == generation
        {
            let (exchanged, original) = state(id).pointee.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                // Set before the pool's init returned, so before any cache carried this
                // generation; checked anyway rather than trusted.
                let bits = list(id).pointee.load(ordering: .acquiring)
                guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(bits)) else {
                    unpin(id)
                    return nil
                }
                return Unmanaged<ShardedFreeList.GlobalList>.fromOpaque(raw)
            }
            current = original
        }
        return nil
    }

    func unpin(_ id: Int) {
        state(id).pointee.subtract(1, ordering: .releasing)
    }

    /// Deactivates row `id` and waits for pinned threads to leave; afterwards no thread can
    /// reach the pool's list through the row, and the row is free for reuse.
    func retire(_ id: Int) {
        var current = state(id).pointee.load(ordering: .relaxed)
        while true {
            let (exchanged, original) = state(id).pointee.compareExchange(
                expected: current, desired: current & ~Self.activeBit,
                ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        // A thread pinned before the CAS above may still flush into the list: wait for it.
        while state(id).pointee.load(ordering: .acquiring) & Self.pinMask != 0 {
            offheap_yield()
        }
    }

    /// Counters folded in by exited threads.
    func folded(_ id: Int, _ field: Counter) -> UInt64 {
        counter(id, field).pointee.load(ordering: .acquiring)
    }
}
