/// Per-thread result rows of a concurrent test: worker `t` appends only to row `t`; the
/// checking thread reads the rows after `join`, which orders the writes before the reads.
public final class ThreadRows<Row>: @unchecked Sendable {
    // @unchecked Sendable: rows are disjoint per thread and read only after the threads joined.
    public let threads: Int
    public let rowsPerThread: Int
    private let storage: UnsafeMutablePointer<Row>
    private let counts: UnsafeMutablePointer<Int>

    public init(threads: Int, rowsPerThread: Int) {
        self.threads = threads
        self.rowsPerThread = rowsPerThread
        storage = .allocate(capacity: threads * rowsPerThread)
        counts = .allocate(capacity: threads)
        counts.initialize(repeating: 0, count: threads)
    }

    deinit {
        for thread in 0..<threads {
            (storage + thread * rowsPerThread).deinitialize(count: counts[thread])
        }
        storage.deallocate()
        counts.deallocate()
    }

    public func append(thread: Int, _ row: Row) {
        precondition(counts[thread] < rowsPerThread, "ThreadRows: row \(thread) is full")
        (storage + thread * rowsPerThread + counts[thread]).initialize(to: row)
        counts[thread] += 1
    }

    public func row(_ thread: Int) -> [Row] {
        (0..<counts[thread]).map { storage[thread * rowsPerThread + $0] }
    }

    public var all: [Row] { (0..<threads).flatMap { row($0) } }

    /// Empties every row (between rounds of a test, with no worker running).
    public func removeAll() {
        for thread in 0..<threads {
            (storage + thread * rowsPerThread).deinitialize(count: counts[thread])
            counts[thread] = 0
        }
    }
}

/// One block a concurrent allocator test handed out: where, how big, how aligned, and the
/// seed of the pattern written into it.
public struct LoggedBlock {
    public var address: UInt
    public var byteCount: Int
    public var alignment: Int
    public var seed: UInt64

    public init(address: UInt, byteCount: Int, alignment: Int, seed: UInt64) {
        self.address = address
        self.byteCount = byteCount
        self.alignment = alignment
        self.seed = seed
    }
}
