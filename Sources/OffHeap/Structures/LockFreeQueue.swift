import Synchronization

/// A lock-free FIFO queue (Michael & Scott, PODC 1996) of `BitwiseCopyable` elements in
/// off-heap nodes, with Hyaline safe memory reclamation.
///
/// ```swift
/// let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 1024))
/// let queue = try LockFreeQueue<Int, FreeList>(pool: pool)
/// try queue.enqueue(1)
/// try queue.enqueue(2)
/// let first = try queue.dequeue()   // Optional(1)
/// ```
///
/// Invariant: `head` names the dummy node (its value already consumed); the elements are
/// the values of the nodes after it. `tail` names the last node or the one before it (it
/// lags by at most one, and is helped forward by anyone who sees it lag). A node's link is
/// 0 until a single successful CAS appends its successor, after which it never changes.
/// Every shared load of `head`, `tail` or a link goes through
/// ``HyalineGuard/protect(_:)``; the dequeuer that moves `head` past the old dummy retires
/// it. `head` never moves past `tail` (a dequeuer that sees `head == tail` with a
/// successor first swings `tail`), so `tail` never names a retired node. All CASes are
/// sequentially consistent (Hyaline's unlink-then-retire ordering).
public final class LockFreeQueue<Element: BitwiseCopyable, Pool: FixedSizeAllocator>:
    @unchecked Sendable
{
    // @unchecked Sendable: shared state is `head`/`tail` (anchors 0 and 1: off-heap atomics,
    // own cache lines) and the nodes, accessed as stated above; stored properties are immutable.
    @usableFromInline internal let storage: OffHeapNodes<Element, Pool>
    @usableFromInline internal let anchors: NodeAnchors
    @usableFromInline internal var head: UnsafeMutablePointer<Atomic<UInt64>> { anchors[0] }
    @usableFromInline internal var tail: UnsafeMutablePointer<Atomic<UInt64>> { anchors[1] }

    /// Creates an empty queue (one dummy node is taken from `pool`).
    ///
    /// - Parameters: as ``LockFreeStack/init(pool:domain:)``.
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)``, an exhaustion error
    ///   when the pool cannot give the dummy node, mapping errors.
    public init(pool: Pool, domain: HyalineDomain? = nil) throws(OffHeapError) {
        storage = try OffHeapNodes(pool: pool, domain: domain)
        anchors = try storage.makeAnchors(count: 2, dummy: true)  // head = tail = the dummy
    }

    deinit { storage.tearDown(anchors) }

    /// The Hyaline domain protecting the nodes.
    public var domain: HyalineDomain { storage.domain }

    /// Appends `value`.
    ///
    /// - Throws: the pool's exhaustion error after a flush, ``OffHeapError/readerSlotsExhausted(maximumReaders:)``,
    ///   ``OffHeapError/destroyed``. On error nothing was enqueued.
    @inlinable
    public func enqueue(_ value: Element) throws(OffHeapError) {
        let node = try storage.makeNode(value)
        let guardian: HyalineGuard
        do {
            guardian = try storage.domain.enter(retaining: false)
        } catch {
            try? storage.nodes.deallocate(OffHeapNodes<Element, Pool>.raw(node))
            throw error
        }
        while true {
            let last = guardian.protect(tail)
            let lastLink = OffHeapNodes<Element, Pool>.link(last)
            let next = guardian.protect(lastLink)
            guard last == tail.pointee.load(ordering: .sequentiallyConsistent) else { continue }
            if next == 0 {
                // Litmus: MP: the node's value and zero link are written before this CAS publishes
                // it.
                let (linked, _) = lastLink.pointee.compareExchange(
                    expected: 0, desired: node, ordering: .sequentiallyConsistent)
                if linked {
                    _ = tail.pointee.compareExchange(
                        expected: last, desired: node, ordering: .sequentiallyConsistent)
                    return
                }
            } else {
                _ = tail.pointee.compareExchange(
                    expected: last, desired: next, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// Removes and returns the oldest element, or `nil` when the queue is empty.
    ///
    /// - Throws: ``OffHeapError/destroyed``; ``OffHeapError/readerSlotsExhausted(maximumReaders:)``;
    ///   ``OffHeapError/retireRecordsExhausted(recordCapacity:)`` when the dequeued node
    ///   could not be retired (readers pin every record): the queue is then unchanged.
    @inlinable
    public func dequeue() throws(OffHeapError) -> Element? {
        let guardian = try storage.domain.enter(retaining: false)
        try storage.reserveRetire(in: guardian)
        while true {
            let first = guardian.protect(head)
            let last = guardian.protect(tail)
            let next = guardian.protect(OffHeapNodes<Element, Pool>.link(first))
            guard first == head.pointee.load(ordering: .sequentiallyConsistent) else { continue }
            if first == last {
                if next == 0 { return nil }
                _ = tail.pointee.compareExchange(
                    expected: last, desired: next, ordering: .sequentiallyConsistent)
            } else {
                // Read before the CAS: afterwards another dequeuer may retire `next`.
                let value = OffHeapNodes<Element, Pool>.value(of: next)
                // Litmus: SB with Hyaline's publish(): this unlink (W head) precedes retire's R
                // slot head.
                let (moved, _) = head.pointee.compareExchange(
                    expected: first, desired: next, ordering: .sequentiallyConsistent)
                if moved {
                    storage.retire(first, in: guardian)
                    return value
                }
            }
        }
    }

    /// Whether the queue was empty at the moment of the loads.
    ///
    /// A property like ``LockFreeStack/isEmpty``, but a throwing one: the stack answers from
    /// its `top` word alone, while the queue must read the head node's `next` link, and that
    /// node may be dequeued and reclaimed concurrently, so the read needs a Hyaline guard,
    /// and entering a domain can fail (no reader slot, domain destroyed).
    ///
    /// - Throws: ``OffHeapError/destroyed``; ``OffHeapError/readerSlotsExhausted(maximumReaders:)``.
    public var isEmpty: Bool {
        get throws(OffHeapError) {
            let guardian = try storage.domain.enter(retaining: false)
            let first = guardian.protect(head)
            return guardian.protect(OffHeapNodes<Element, Pool>.link(first)) == 0
        }
    }
}
