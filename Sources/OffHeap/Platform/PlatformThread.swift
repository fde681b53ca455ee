import COffHeapShims

/// A joinable OS thread (pthread), usable from the Embedded build where neither Foundation
/// nor Dispatch exists. Tests and workloads use it to run real concurrent workers.
///
/// ```swift
/// let threads = try (0..<8).map { index in
///     try PlatformThread { hammer(worker: index) }
/// }
/// for thread in threads { thread.join() }
/// ```
@usableFromInline
package struct PlatformThread: Sendable {
    @usableFromInline internal let handle: UInt64

    /// Starts a thread running `body`. Call ``join()`` exactly once.
    ///
    /// - Throws: ``OffHeapError/threadStartFailed(errno:)`` when `pthread_create` fails.
    package init(stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) throws(OffHeapError) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var handle: UInt64 = 0
        let rc = offheap_thread_start(&handle, { context in
            let body = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
            body.run()
        }, box, stackSize)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw .threadStartFailed(errno: rc)
        }
        self.handle = handle
    }

    /// Waits for the thread to finish.
    package func join() {
        offheap_thread_join(handle)
    }

    /// Runs `body(index)` on `count` threads and waits for all of them. Threads that started
    /// are joined even when a later one fails to start.
    package static func run(
        count: Int, _ body: @escaping @Sendable (Int) -> Void
    ) throws(OffHeapError) {
        var started: [PlatformThread] = []
        started.reserveCapacity(count)
        var failure: OffHeapError?
        for index in 0..<count {
            do {
                started.append(try PlatformThread { body(index) })
            } catch {
                failure = error
                break
            }
        }
        for thread in started { thread.join() }
        if let failure { throw failure }
    }

    /// Yields the processor (`sched_yield`).
    @inlinable
    package static func yield() { offheap_yield() }

    /// Sleeps for `nanoseconds`.
    package static func sleep(nanoseconds: UInt64) { offheap_sleep_ns(nanoseconds) }
}

@usableFromInline
internal final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
