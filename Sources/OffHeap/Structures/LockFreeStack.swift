import Synchronization

/// A lock-free LIFO stack (Treiber) of `BitwiseCopyable` elements in off-heap nodes,
/// with Hyaline safe memory reclamation.
///
/// ```swift
/// let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 1024))
/// let stack = try LockFreeStack<Int, FreeList>(pool: pool)
/// try stack.push(7)
/// let top = try stack.pop()      // Optional(7)
/// ```
///
/// Invariant: `top` holds the address of the newest node (or 0); each node's link is
/// written once, before the node is published by the sequentially consistent CAS on
/// `top`, and never changes while the node is reachable. `pop` reads `top` with
/// ``HyalineGuard/protect(_:)``, so the node it dereferences and CASes against cannot be
/// reclaimed — and therefore cannot be reused — while the guard lives: this is what rules
/// out ABA without tags. The popper that wins the CAS retires the node; the pool gets it
/// back after every reader that could hold it has left.
///
/// Nodes come from any ``FixedSizeAllocator`` whose slots hold `16 + size of Element`
/// bytes (rounded up to the element alignment). Every node is conserved: pushed values
/// come out exactly once.
public final class LockFreeStack<Element: BitwiseCopyable, Pool: FixedSizeAllocator>:
    @unchecked Sendable
{
    // @unchecked Sendable: shared state is the off-heap `top` word (anchor 0 of `anchors`) and
    // the nodes, accessed through atomics and Hyaline as stated above; the stored properties
    // are immutable.
    @usableFromInline internal let storage: OffHeapNodes<Element, Pool>
    @usableFromInline internal let anchors: NodeAnchors
    @usableFromInline internal var top: UnsafeMutablePointer<Atomic<UInt64>> { anchors[0] }

    /// Creates an empty stack whose nodes come from `pool`.
    ///
    /// The pool's ``FixedSizeAllocator/capacity`` sizes the controller's free fraction and a
    /// private domain's retire records; its ``FixedSizeAllocator/contains(_:)`` rejects
    /// foreign nodes at retire.
    ///
    /// - Parameters:
    ///   - domain: a shared Hyaline domain; by default the stack creates its own.
    ///   - pool: the fixed-size allocator the nodes come from; its slots must hold a node.
    /// - Throws: ``OffHeapError/invalidConfiguration(reason:)`` when the pool's slots are
    ///   too small or misaligned; mapping errors.
    public init(pool: Pool, domain: HyalineDomain? = nil) throws(OffHeapError) {
        storage = try OffHeapNodes(pool: pool, domain: domain)
        anchors = try storage.makeAnchors(count: 1, dummy: false)
    }

    // No other thread can use the stack now: return the remaining nodes directly.
    deinit { storage.tearDown(anchors) }

    /// The Hyaline domain protecting the nodes.
    public var domain: HyalineDomain { storage.domain }

    /// Pushes `value`.
    ///
    /// - Throws: the pool's exhaustion error (``OffHeapError/isExhaustion``) when the pool has no node even after pending
    ///   retirements were flushed (retry later); ``OffHeapError/destroyed`` never (push
    ///   does not enter the domain).
    @inlinable
    public func push(_ value: Element) throws(OffHeapError) {
        let node = try storage.makeNode(value)
        let link = OffHeapNodes<Element, Pool>.link(node)
        var old = top.pointee.load(ordering: .relaxed)
        while true {
            // Push never dereferences `old`, so it needs no guard (push-side ABA is benign:
            // if `old` is the top again, linking to it is still correct).
            link.pointee.store(old, ordering: .relaxed)
            // Litmus: message passing (MP): the node's link and value are written before this CAS
            // publishes it; a popper whose protect() reads the node then reads them.
            let (done, seen) = top.pointee.compareExchange(
                expected: old, desired: node, ordering: .sequentiallyConsistent)
            if done { return }
            old = seen
        }
    }

    /// Pops the newest element, or returns `nil` when the stack is empty.
    ///
    /// - Throws: ``OffHeapError/destroyed`` when the domain was destroyed;
    ///   ``OffHeapError/readerSlotsExhausted(maximumReaders:)`` when the domain has no free reader slot;
    ///   ``OffHeapError/retireRecordsExhausted(recordCapacity:)`` when the popped node could
    ///   not be retired (readers pin every record): the stack is then unchanged.
    @inlinable
    public func pop() throws(OffHeapError) -> Element? {
        let guardian = try storage.domain.enter(retaining: false)
        try storage.reserveRetire(in: guardian)
        while true {
            let old = guardian.protect(top)
            if old == 0 { return nil }
            let next = OffHeapNodes<Element, Pool>.link(old).pointee.load(ordering: .relaxed)
            // Litmus: SB with Hyaline's publish(): this unlink (W top) precedes retire's R head; a
            // reader's W head precedes its R top in protect(). Neither may see the old value.
            let (done, _) = top.pointee.compareExchange(
                expected: old, desired: next, ordering: .sequentiallyConsistent)
            if done {
                let value = OffHeapNodes<Element, Pool>.value(of: old)
                storage.retire(old, in: guardian)
                return value
            }
        }
    }

    /// Whether the stack was empty at the moment of the load.
    public var isEmpty: Bool { top.pointee.load(ordering: .acquiring) == 0 }
}
