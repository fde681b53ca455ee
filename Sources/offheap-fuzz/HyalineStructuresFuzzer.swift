import OffHeap

/// `LockFreeStack` and `LockFreeQueue` sharing one `FreeList` of nodes and one Hyaline
/// domain (so a flush before an exhaustion error reclaims both structures' retired nodes), against a LIFO array and a FIFO array: every value comes out exactly once and in
/// order; a push or enqueue fails only with an exhaustion error and only when every node
/// is held by an element (or the queue's dummy) — retired nodes are flushed back first; and
/// once both structures are gone and the domain is destroyed, every node is back in the pool.
///
/// Input: 2 configuration bytes (pool capacity, retire batch threshold), then one operation per byte with its
/// operand in the following byte.
func fuzzHyalineStructures(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let capacity = 2 + input.pick(48)
    let pool = expectSuccess("FreeList(capacity: \(capacity))") { () throws(OffHeapError) in
        try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: capacity))
    }
    let domain = expectSuccess("HyalineDomain") { () throws(OffHeapError) in
        try HyalineDomain(
            configuration: .init(maximumReaders: 4, recordCapacity: 256, batchThreshold: 1 + input.pick(16)))
    }
    do {
        let stack = expectSuccess("LockFreeStack(pool:)") { () throws(OffHeapError) in
            try LockFreeStack<UInt64, FreeList>(pool: pool, domain: domain)
        }
        let queue = expectSuccess("LockFreeQueue(pool:)") { () throws(OffHeapError) in
            try LockFreeQueue<UInt64, FreeList>(pool: pool, domain: domain)
        }
        var lifo: [UInt64] = []
        var fifo: [UInt64] = []
        var fifoStart = 0
        var next: UInt64 = 1
        /// Nodes held by elements, plus the queue's dummy.
        func held() -> Int { lifo.count + (fifo.count - fifoStart) + 1 }

        func add(_ what: String, _ body: (UInt64) throws(OffHeapError) -> Void) -> Bool {
            do {
                try body(next)
                return true
            } catch {
                check(error.isExhaustion, "\(what): threw \(error), expected success or exhaustion")
                check(held() == capacity,
                    "\(what): \(error) with \(held()) of \(capacity) nodes held (retired nodes not flushed?)")
                return false
            }
        }

        while !input.isAtEnd {
            switch input.pick(6) {
            case 0, 1:
                if add("push", { v throws(OffHeapError) in try stack.push(v) }) { lifo.append(next); next += 1 }
            case 2:
                let got = expectSuccess("pop with \(lifo.count) elements") { () throws(OffHeapError) in try stack.pop() }
                check(got == lifo.popLast(), "pop returned \(String(describing: got))")
            case 3:
                if add("enqueue", { v throws(OffHeapError) in try queue.enqueue(v) }) { fifo.append(next); next += 1 }
            case 4:
                let got = expectSuccess("dequeue") { () throws(OffHeapError) in try queue.dequeue() }
                let expected: UInt64? = fifoStart < fifo.count ? fifo[fifoStart] : nil
                if expected != nil { fifoStart += 1 }
                check(got == expected, "dequeue returned \(String(describing: got)), expected \(String(describing: expected))")
            default:
                check(stack.isEmpty == lifo.isEmpty, "stack.isEmpty is \(stack.isEmpty)")
                let empty = expectSuccess("queue.isEmpty") { () throws(OffHeapError) in try queue.isEmpty }
                check(empty == (fifoStart == fifo.count), "queue.isEmpty is \(empty)")
            }
            check(pool.statistics.inUse >= held(), "pool has \(pool.statistics.inUse) nodes in use, \(held()) held")
            if fifoStart > 64 { fifo.removeFirst(fifoStart); fifoStart = 0 }
        }
        // Leave some elements behind half the time: teardown must return them too.
        if input.pick(2) == 0 {
            while let value = lifo.popLast() {
                let got = expectSuccess("drain pop") { () throws(OffHeapError) in try stack.pop() }
                check(got == value, "drain pop returned \(String(describing: got)), expected \(value)")
            }
        }
        withExtendedLifetime((stack, queue)) {}
    }
    expectSuccess("domain.destroy()") { () throws(OffHeapError) in try domain.destroy() }
    check(pool.statistics.inUse == 0, "\(pool.statistics.inUse) nodes still in use after both structures were released")
}
