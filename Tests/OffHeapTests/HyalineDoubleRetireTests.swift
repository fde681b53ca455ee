import OffHeap
import Testing

@Suite("Hyaline double retire")
struct HyalineDoubleRetireTests {
    /// Checked retirement (a reclaimer given the pool's slot index): retiring a node that
    /// is retired and not yet reclaimed is `.doubleFree`, the reclaimer runs once, and the
    /// node can be retired again after it was reclaimed and reallocated.
    @Test func retiringANodeTwiceIsADoubleFreeInCheckedMode() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, capacity: 64))
        let nodes = HyalinePoolReclaimer(
            pool,
            slotIndex: { try? pool.slotIndex(of: $0) })
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4, batchThreshold: 1, stripes: 1))
        let id = try domain.register(nodes)
        let node = try nodes.allocate()
        try domain.withGuard { guardian throws(OffHeapError) in
            try guardian.retire(node, birthEra: domain.birthEra(), reclaimer: id)
            #expect(throws: OffHeapError.doubleFree) {
                try guardian.retire(node, birthEra: 0, reclaimer: id)
            }
        }
        _ = domain.reclaimPending()
        #expect(domain.statistics.retired == 1)
        #expect(domain.statistics.reclaimed == 1)
        #expect(pool.statistics.inUse == 0)
        // Reclaimed: the same slot, allocated again, retires normally.
        let again = try nodes.allocate()
        #expect(again == node)
        try domain.withGuard { guardian throws(OffHeapError) in
            try guardian.retire(again, birthEra: domain.birthEra(), reclaimer: id)
        }
        _ = domain.reclaimPending()
        #expect(domain.statistics.reclaimed == 2)
        #expect(pool.statistics.inUse == 0)
    }

    /// `withGuard` takes a body whose error type is inferred: `try` inside an unannotated
    /// closure compiles (this file would not build otherwise), the retirement happens, and
    /// an error thrown by the body comes out unchanged.
    @Test func withGuardTakesAnUnannotatedThrowingBody() throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, capacity: 64))
        let nodes = HyalinePoolReclaimer(
            pool,
            slotIndex: { try? pool.slotIndex(of: $0) })
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4, batchThreshold: 1, stripes: 1))
        let id = try domain.register(nodes)
        let node = try nodes.allocate()
        try domain.withGuard { guardian in
            try guardian.retire(node, birthEra: domain.birthEra(), reclaimer: id)
        }
        _ = domain.reclaimPending()
        #expect(domain.statistics.retired == 1)
        #expect(domain.statistics.reclaimed == 1)
        #expect(pool.statistics.inUse == 0)

        let other = try nodes.allocate()
        #expect(throws: OffHeapError.doubleFree) {
            try domain.withGuard { guardian in
                try guardian.retire(other, birthEra: domain.birthEra(), reclaimer: id)
                try guardian.retire(other, birthEra: 0, reclaimer: id)
            }
        }
        struct BodyError: Error, Equatable {}
        #expect(throws: BodyError()) {
            try domain.withGuard { _ in throw BodyError() }
        }
    }
}
