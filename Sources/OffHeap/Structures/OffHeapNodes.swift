import Synchronization

/// The shared plumbing of the Hyaline-backed structures: a node pool wrapped in a
/// ``HyalinePoolReclaimer``, its reclaimer id, the node layout, allocation with relief, and
/// the life of the structure's ``NodeAnchors`` (`makeAnchors`, `tearDown`).
///
/// Node layout (no Hyaline header: Hyaline's metadata lives in its own retire records):
/// `+0` link (`Atomic<UInt64>`, a node address or 0), `+8` birth era, `+valueOffset` the
/// element.
@usableFromInline
internal struct OffHeapNodes<Element: BitwiseCopyable, Pool: FixedSizeAllocator>: Sendable {
    @usableFromInline let domain: HyalineDomain
    @usableFromInline let nodes: HyalinePoolReclaimer<Pool>
    @usableFromInline let reclaimer: HyalineReclaimerID
    @usableFromInline let ownsDomain: Bool
    @usableFromInline static var valueOffset: Int {
        max(16, MemoryLayout<Element>.alignment)
    }
    @usableFromInline static var nodeSize: Int { valueOffset + MemoryLayout<Element>.size }

    init(pool: Pool, domain: HyalineDomain?) throws(OffHeapError) {
        guard pool.slotSize >= Self.nodeSize else {
            throw .invalidConfiguration(reason: "pool slots are too small for the node")
        }
        guard pool.slotAlignment >= max(8, MemoryLayout<Element>.alignment) else {
            throw .invalidConfiguration(reason: "pool slots are not aligned for the node")
        }
        let capacity = pool.capacity
        guard capacity >= 1 else { throw .invalidConfiguration(reason: "capacity must be > 0") }
        if let domain {
            self.domain = domain
            ownsDomain = false
        } else {
            self.domain = try HyalineDomain(
                configuration: .init(recordCapacity: max(1 << 12, 2 * min(capacity, 1 << 24) + 8192)))
            ownsDomain = true
        }
        nodes = HyalinePoolReclaimer(pool)
        reclaimer = try self.domain.register(nodes)
    }

    @inlinable @inline(__always)
    static func link(_ node: UInt64) -> UnsafeMutablePointer<Atomic<UInt64>> {
        UnsafeMutableRawPointer(bitPattern: UInt(node))!.assumingMemoryBound(
            to: Atomic<UInt64>.self)
    }

    @inlinable @inline(__always)
    static func raw(_ node: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(node))!
    }

    /// A fresh node holding `value`, its link 0 and its birth era set. On an exhausted pool,
    /// flushes pending retirements once and retries before reporting the pool's exhaustion error.
    @inlinable
    func makeNode(_ value: Element) throws(OffHeapError) -> UInt64 {
        let node: UnsafeMutableRawPointer
        do {
            node = try nodes.allocate()
        } catch where error.isExhaustion {
            domain.reclaimPending()
            node = try nodes.allocate()
        }
        node.assumingMemoryBound(to: Atomic<UInt64>.self).initialize(to: Atomic(0))
        node.storeBytes(of: domain.birthEra(), toByteOffset: 8, as: UInt64.self)
        node.storeBytes(of: value, toByteOffset: Self.valueOffset, as: Element.self)
        return UInt64(UInt(bitPattern: node))
    }

    /// A node whose value bytes are zero (the queue's first dummy).
    func makeDummyNode() throws(OffHeapError) -> UInt64 {
        let node = try nodes.allocate()
        node.assumingMemoryBound(to: Atomic<UInt64>.self).initialize(to: Atomic(0))
        node.storeBytes(of: domain.birthEra(), toByteOffset: 8, as: UInt64.self)
        (node + Self.valueOffset).initializeMemory(
            as: UInt8.self, repeating: 0, count: MemoryLayout<Element>.size)
        return UInt64(UInt(bitPattern: node))
    }

    @inlinable
    static func value(of node: UInt64) -> Element {
        raw(node).load(fromByteOffset: valueOffset, as: Element.self)
    }

    /// Reserves the retire record for the node the caller is about to unlink (see
    /// ``HyalineGuard/reserveRetire()``), flushing and retrying a few times first: a
    /// structure calls it before its unlinking CAS, so running out of records is a typed
    /// error while the structure is still unchanged, never a node leaked after the fact.
    @inlinable
    func reserveRetire(in guardian: borrowing HyalineGuard) throws(OffHeapError) {
        var attempt = 0
        while true {
            do {
                try guardian.reserveRetire()
                return
            } catch {
                attempt += 1
                if attempt == 64 { throw error }
                guardian.flushPending()
                PlatformThread.yield()
            }
        }
    }

    /// Retires an unlinked node; retries (flushing) if the domain is out of retire records.
    /// After ``reserveRetire(in:)`` on the same guard the first attempt succeeds (every
    /// guard reserves: the sticky one in its private list, others in their slot), so the
    /// retry limit is reached only by a retire without that reservation.
    @inlinable
    func retire(_ node: UInt64, in guardian: borrowing HyalineGuard) {
        let pointer = Self.raw(node)
        let birth = pointer.load(fromByteOffset: 8, as: UInt64.self)
        for _ in 0..<1000 {
            do {
                try guardian.retire(pointer, birthEra: birth, reclaimer: reclaimer)
                return
            } catch {
                guardian.flushPending()
                PlatformThread.yield()
            }
        }
        // Out of retire records for good (records are sized at 2 × capacity, so this needs
        // a reader stalled on most of the pool): the node leaks rather than being freed
        // unsafely.
    }

    /// Maps the anchors of a structure (see ``NodeAnchors``): `count` words, all 0, or with
    /// `dummy`, all naming one fresh dummy node (the queue's). On a throw nothing stays mapped
    /// or allocated.
    func makeAnchors(count: Int, dummy: Bool) throws(OffHeapError) -> NodeAnchors {
        guard dummy else { return try NodeAnchors(count: count, initial: 0) }
        let node = try makeDummyNode()
        do {
            return try NodeAnchors(count: count, initial: node)
        } catch {
            try? nodes.deallocate(Self.raw(node))
            throw error
        }
    }

    /// Returns every node of the chain that starts at anchor 0 to the pool, unmaps the
    /// anchors and destroys a domain this storage created. Only for a structure's `deinit`,
    /// when no other thread can reach the nodes any more.
    func tearDown(_ anchors: NodeAnchors) {
        var node = anchors[0].pointee.load(ordering: .acquiring)
        while node != 0 {
            let next = OffHeapNodes.link(node).pointee.load(ordering: .relaxed)
            try? nodes.deallocate(OffHeapNodes.raw(node))
            node = next
        }
        if ownsDomain { try? domain.destroy() }
        try? VirtualMemory.release(anchors.region)
    }
}
