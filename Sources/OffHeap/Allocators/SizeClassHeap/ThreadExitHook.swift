import COffHeapShims

/// The pthread key whose destructor abandons an exiting thread's pages.
internal final class ThreadExitHook: @unchecked Sendable {
    // @unchecked Sendable: immutable after init.
    static let shared = ThreadExitHook()
    let key: UInt32
    let valid: Bool
    let error: Int32

    private init() {
        var key: UInt32 = 0
        let rc = offheap_tls_key_create(&key) { raw in ThreadExitHook.threadExited(raw) }
        self.key = key
        valid = rc == 0
        error = rc
    }

    /// Runs on the exiting thread: every heap it used adopts nothing, it abandons its pages.
    static func threadExited(_ raw: UnsafeMutableRawPointer) {
        // An internal section: as the process allocator, an allocation made while the pages
        // are abandoned (under the heap's lock) must go to glibc, not back into this heap.
        offheap_internal_enter()
        defer { offheap_internal_leave() }
        let entries = raw.assumingMemoryBound(to: ThreadRecordEntry.self)
        for index in 0..<ThreadRecord.entryCount {
            let entry = entries[index]
            guard entry.heapID != 0, let heap = entry.heap else { continue }
            HeapDirectory.shared.detach(heapID: entry.heapID, threadHeap: heap)
        }
        if ThreadRecord.slot.value == raw { ThreadRecord.slot.value = nil }
        ThreadTables.shared.remove(raw)
        _ = offheap_munmap(
            raw, VirtualMemory.roundUp(ThreadRecord.tableByteCount, to: VirtualMemory.pageSize))
    }
}
