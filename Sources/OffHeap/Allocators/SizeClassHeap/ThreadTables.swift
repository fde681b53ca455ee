import Synchronization

/// Every live thread table, so an unmap can wait for the frees in progress.
///
/// Invariant: a table is added when it is created (before its thread's first free) and
/// removed by its thread's exit hook before it is unmapped, both under `lock`; the
/// unmapper scans under `lock`, so it never reads an unmapped table.
@usableFromInline
internal final class ThreadTables: @unchecked Sendable {
    // @unchecked Sendable: `tables` is only touched under `lock`.
    static let shared = ThreadTables()
    private let lock = SpinLock()
    private var tables: [UnsafeMutableRawPointer] = []

    private init() {}

    func insert(_ table: UnsafeMutableRawPointer) {
        lock.lock()
        tables.append(table)
        lock.unlock()
    }

    func remove(_ table: UnsafeMutableRawPointer) {
        lock.lock()
        if let index = tables.firstIndex(of: table) { tables.swapAt(index, tables.count - 1) }
        if tables.last == table { tables.removeLast() }
        lock.unlock()
    }

    /// Call after the segment's registry entry was cleared and the unmap epoch bumped, before
    /// the munmap: returns once no free that could have seen the old entry is in progress.
    func waitForFreesInProgress() {
        let own = ThreadRecord.slot.value
        // Our own free (if any) makes no further access to the segment being unmapped.
        if let own { ThreadRecord.endFree(own) }
        // The heavy side of the announcement's store-buffering pair: a membarrier, or an SC
        // fence when frees announce with SC stores (ThreadRecord+FreeAnnouncement.swift).
        AsymmetricFence.heavy()
        lock.lock()
        for table in tables where table != own {
            let word = ThreadRecord.freeSequence(table)
            let seen = word.pointee.load(ordering: .sequentiallyConsistent)
            guard seen & 1 != 0 else { continue }
            var spins = 0
            while word.pointee.load(ordering: .acquiring) == seen {
                spins += 1
                if spins > 64 { PlatformThread.yield() }
            }
        }
        lock.unlock()
    }

    // fork(): liboffheap-malloc's atfork handlers take this lock first. Nothing else is ever
    // locked while it is taken or held (inserts and removes run with no lock held, and
    // `waitForFreesInProgress` only spins on announcements), so taking it before the
    // directory and core locks cannot deadlock.
    func lockForFork() { lock.lock() }
    func unlockAfterFork() { lock.unlock() }

    /// In a fork child: every other thread is gone, and so must be their tables, or an unmap
    /// would wait forever for a free one of them had announced when the parent forked.
    func unlockInForkChild(keeping own: UnsafeMutableRawPointer?) {
        tables.removeAll { $0 != own }
        lock.unlock()
    }
}
