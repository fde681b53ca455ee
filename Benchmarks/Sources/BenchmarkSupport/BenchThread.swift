import Glibc

/// A joinable pthread for the benchmarks (swift-offheap's own `PlatformThread` is `package`,
/// not part of its public API, so this package brings its own).
///
/// ```swift
/// try BenchThread.run(count: 2) { worker in print("worker", worker) }
/// ```
public struct BenchThread: @unchecked Sendable {
    // @unchecked Sendable: a pthread handle, joined once by its creator.
    private let handle: pthread_t

    /// Starts a thread running `body`.
    public init(_ body: @escaping @Sendable () -> Void) throws(BenchThreadError) {
        let box = Unmanaged.passRetained(BenchThreadBody(body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { context in
            Unmanaged<BenchThreadBody>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<BenchThreadBody>.fromOpaque(box).release()
            throw BenchThreadError(errno: rc)
        }
        self.handle = handle
    }

    /// Waits for the thread to finish.
    public func join() { pthread_join(handle, nil) }

    /// Runs `body(0) … body(count - 1)` on `count` threads and waits for all of them.
    public static func run(
        count: Int, _ body: @escaping @Sendable (Int) -> Void
    ) throws(BenchThreadError) {
        var started: [BenchThread] = []
        var failure: BenchThreadError?
        for index in 0..<count {
            do throws(BenchThreadError) {
                started.append(try BenchThread { body(index) })
            } catch {
                failure = error
                break
            }
        }
        for thread in started { thread.join() }
        if let failure { throw failure }
    }

    /// Gives the CPU to another runnable thread.
    public static func yield() { sched_yield() }
}

/// `pthread_create` failed with `errno`.
public struct BenchThreadError: Error {
    public let errno: Int32
}

private final class BenchThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// A pthread mutex for the benchmarks' lock-based baselines.
public final class BenchMutex: @unchecked Sendable {
    // @unchecked Sendable: the pthread mutex serialises every access it guards.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex.
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
