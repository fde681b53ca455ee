import COffHeapShims
import Synchronization

/// Process-wide table of live ``ShardedFreeList`` instances, one ``GenerationTable`` row per
/// instance id.
///
/// Every thread's cache table has one column per id, so a thread finds its cache for a pool
/// by the pool's id alone; the row's *generation* (stamped on the caches) tells a live pool's
/// column from a stale one left behind by a destroyed pool that had the same id.
///
/// Invariant: ``GenerationTable``'s, with payload word 1 = the pool's global list (stored
/// before `claim` returns) and words 2...5 = counters folded in by exited threads. A thread
/// that exits touches the list and the counters only while it pins the row; the pool's
/// deinit retires the row (waiting for pins) before it releases the list. The allocation hot
/// path never reads this table.
@usableFromInline
internal struct ShardedRegistry: @unchecked Sendable {
    // @unchecked Sendable: a pointer to process-lifetime off-heap rows, all fields `Atomic`.

    @usableFromInline internal static let rowBytes = 128
    static let listField = 1

    /// Counters of exited threads, folded into the row, by field offset.
    enum Counter: Int {
        case hits = 2, misses, refills, flushes
    }

    let table: GenerationTable

    init(rows: UnsafeMutableRawPointer) {
        table = GenerationTable(
            rows: rows, rowCount: ShardedFreeList.maximumLiveInstances, rowBytes: Self.rowBytes)
    }

    @inline(__always) func counter(_ id: Int, _ counter: Counter) -> UnsafeMutablePointer<Atomic<UInt64>> {
        table.word(id, counter.rawValue)
    }

    /// Claims a free row for `list`; returns its id and new generation (never 0).
    func claim(list: ShardedFreeList.GlobalList) throws(OffHeapError) -> (id: Int, generation: UInt32) {
        let claimed = table.claim { id in
            for field in Counter.hits.rawValue...Counter.flushes.rawValue {
                table.word(id, field).pointee.store(0, ordering: .relaxed)
            }
            // Unretained: the pool's stored `global` keeps the list alive until its deinit
            // has returned from `retire`, after which no thread can pin.
            table.storePointer(Unmanaged.passUnretained(list).toOpaque(), id, Self.listField)
        }
        guard let claimed else {
            throw .tooManyLivePools(limit: ShardedFreeList.maximumLiveInstances)
        }
        return (claimed.row, claimed.generation)
    }

    /// Pins row `id` if it is still active with `generation`; returns the pool's global list.
    /// Balance with ``unpin(_:)``.
    func pin(_ id: Int, generation: UInt32) -> Unmanaged<ShardedFreeList.GlobalList>? {
        guard table.pin(id, generation: generation) else { return nil }
        // Stored before the pool's init returned, so before any cache carried this
        // generation; checked anyway rather than trusted.
        guard let raw = table.pointer(id, Self.listField) else {
            table.unpin(id)
            return nil
        }
        return Unmanaged<ShardedFreeList.GlobalList>.fromOpaque(raw)
    }

    func unpin(_ id: Int) { table.unpin(id) }

    /// Deactivates row `id` (claimed with `generation`) and waits for pinned threads to
    /// leave; afterwards no thread can reach the pool's list through the row, and the row is
    /// free for reuse.
    func retire(_ id: Int, generation: UInt32) {
        let retired = table.retire(id, generation: generation)
        assert(retired, "a pool retires its own claim exactly once")
    }

    /// Counters folded in by exited threads.
    func folded(_ id: Int, _ field: Counter) -> UInt64 {
        counter(id, field).pointee.load(ordering: .acquiring)
    }
}
