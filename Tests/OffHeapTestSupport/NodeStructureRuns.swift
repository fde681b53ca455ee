import OffHeap
import Synchronization
import Testing

// Concurrent conservation runs for the Hyaline-backed structures: distinct values
// (`worker << 32 | index`) go in from several threads, the values that come out are logged per
// thread, and after the join the calling thread checks that every value came out exactly once
// (and, for the queue, in each producer's order).
//
// ```swift
// try pushPopConcurrentlyAndCheck(stack, threads: 8, perThread: 1000, keepEvery: 4)
// try produceConsumeConcurrentlyAndCheck(queue, producers: 4, perProducer: 1000)
// ```

/// Every value `worker << 32 | index` for `workers` workers of `perWorker` values, sorted.
public func workerValues(workers: Int, perWorker: Int) -> [UInt64] {
    (0..<workers).flatMap { worker in
        (0..<perWorker).map { UInt64(worker) << 32 | UInt64($0) }
    }.sorted()
}

/// `threads` workers each push `perThread` distinct values onto `stack` and pop once after
/// every push but every `keepEvery`-th; then the calling thread pops what is left. Expects no
/// error and every pushed value popped exactly once.
public func pushPopConcurrentlyAndCheck<Pool: FixedSizeAllocator>(
    _ stack: LockFreeStack<UInt64, Pool>, threads: Int, perThread: Int, keepEvery: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let results = ThreadRows<UInt64>(threads: threads + 1, rowsPerThread: threads * perThread)
    let failures = Atomic<Int>(0)
    try PlatformThread.run(count: threads) { worker in
        for index in 0..<perThread {
            do {
                try stack.push(UInt64(worker) << 32 | UInt64(index))
                if index % keepEvery != keepEvery - 1, let value = try stack.pop() {
                    results.append(thread: worker, value)
                }
            } catch {
                failures.add(1, ordering: .relaxed)
            }
        }
    }
    while let value = try stack.pop() { results.append(thread: threads, value) }
    #expect(failures.load(ordering: .relaxed) == 0, sourceLocation: sourceLocation)
    let seen = results.all.sorted()
    let expected = workerValues(workers: threads, perWorker: perThread)
    #expect(seen.count == expected.count, sourceLocation: sourceLocation)
    #expect(seen == expected, "every pushed value popped exactly once", sourceLocation: sourceLocation)
}

/// `producers` threads enqueue `perProducer` distinct values each while as many consumers
/// dequeue until every value arrived (or a thread failed). With `retryExhausted`, a producer
/// retries an exhaustion (`isExhaustion`) on enqueue; otherwise it counts as a failure. Expects no failure, each
/// consumer to see each producer's values in the order they were enqueued, and every value
/// dequeued exactly once.
public func produceConsumeConcurrentlyAndCheck<Pool: FixedSizeAllocator>(
    _ queue: LockFreeQueue<UInt64, Pool>, producers: Int, perProducer: Int,
    retryExhausted: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let total = producers * perProducer
    let results = ThreadRows<UInt64>(threads: 2 * producers, rowsPerThread: total)
    let consumed = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
    try PlatformThread.run(count: 2 * producers) { worker in
        if worker < producers {
            for index in 0..<perProducer {
                while true {
                    do throws(OffHeapError) {
                        try queue.enqueue(UInt64(worker) << 32 | UInt64(index))
                        break
                    } catch where retryExhausted && error.isExhaustion {
                        PlatformThread.yield()
                    } catch {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                }
            }
        } else {
            while consumed.load(ordering: .relaxed) < total && failures.load(ordering: .relaxed) == 0 {
                do {
                    if let value = try queue.dequeue() {
                        results.append(thread: worker, value)
                        consumed.add(1, ordering: .relaxed)
                    } else {
                        PlatformThread.yield()
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                    return
                }
            }
        }
    }
    #expect(failures.load(ordering: .relaxed) == 0, sourceLocation: sourceLocation)
    for consumer in producers..<(2 * producers) {
        var last = [Int](repeating: -1, count: producers)
        var ordered = true
        for value in results.row(consumer) {
            let producer = Int(value >> 32)
            let index = Int(value & 0xFFFF_FFFF)
            if index <= last[producer] { ordered = false }
            last[producer] = index
        }
        #expect(
            ordered, "consumer \(consumer) saw a producer's values out of order",
            sourceLocation: sourceLocation)
    }
    #expect(
        results.all.sorted() == workerValues(workers: producers, perWorker: perProducer),
        "every enqueued value dequeued exactly once", sourceLocation: sourceLocation)
}
