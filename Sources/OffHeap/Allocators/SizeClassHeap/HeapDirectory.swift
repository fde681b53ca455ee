import Synchronization

/// Live heaps by id, so a thread-exit hook reaches only heaps that still exist.
///
/// Invariant: an entry holds a +1 reference on its core; `detach` runs the abandonment
/// while holding the directory lock, and `remove` takes the same lock, so a heap is never
/// torn down while an exiting thread is handing its pages back.
internal final class HeapDirectory: @unchecked Sendable {
    // @unchecked Sendable: `entries` is only touched under `lock`.
    static let shared = HeapDirectory()
    private let lock = SpinLock()
    private var entries: [(id: UInt64, core: Unmanaged<HeapCore>)] = []
    private let nextID = Atomic<UInt64>(1)

    func makeID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func insert(_ core: HeapCore) {
        lock.lock()
        entries.append((core.id, Unmanaged.passRetained(core)))
        lock.unlock()
    }

    func remove(heapID: UInt64) {
        lock.lock()
        var removed: Unmanaged<HeapCore>?
        if let index = entries.firstIndex(where: { $0.id == heapID }) {
            removed = entries[index].core
            entries.remove(at: index)
        }
        lock.unlock()
        removed?.release()
    }

    func isLive(heapID: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return entries.contains { $0.id == heapID }
    }

    func detach(heapID: UInt64, threadHeap: ThreadHeapPointer) {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries.first(where: { $0.id == heapID }) else { return }
        entry.core.takeUnretainedValue().abandon(threadHeap)
    }

    // fork(): liboffheap-malloc's atfork handlers hold this lock across the fork, taken after
    // the thread-table lock and before the heap's core lock (the order `detach` nests them in).
    func lockForFork() { lock.lock() }
    func unlockAfterFork() { lock.unlock() }
}
