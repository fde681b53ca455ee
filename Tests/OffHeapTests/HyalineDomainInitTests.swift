@testable import OffHeap
import Synchronization
import Testing

@Suite("HyalineDomain init error paths", .serialized)
struct HyalineDomainInitTests {
    /// The controller thread fails to start after every stored property is set: the error
    /// is typed, the domain's runtime row is retired exactly once (a second retire would
    /// clear a row another domain may have claimed since) and its region unmapped once (by
    /// `deinit`, which runs for a class whose init throws after full initialisation).
    @Test func controllerStartFailureCleansUpOnce() throws {
        let staleBefore = GenerationTable.staleRetires.load(ordering: .relaxed)
        for _ in 0..<8 {
            #expect(throws: OffHeapError.threadStartFailed(errno: 11)) {
                _ = try HyalineDomain(
                    .init(maximumReaders: 4, controller: .init()),
                    startThread: { _ throws(OffHeapError) in throw .threadStartFailed(errno: 11) })
            }
        }
        #expect(GenerationTable.staleRetires.load(ordering: .relaxed) == staleBefore)
        // Domains made afterwards claim rows and work normally.
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4))
        #expect(domain.registryRow >= 0)
        let guardian = try domain.enter()
        _ = guardian
    }

    /// A second retire of a row (stale generation) changes nothing.
    @Test func staleRowRetireIsRefused() throws {
        let runtime = try #require(HyalineRuntime.shared)
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4))
        let row = domain.registryRow
        try #require(row >= 0)
        let staleBefore = GenerationTable.staleRetires.load(ordering: .relaxed)
        #expect(!runtime.retire(row, generation: domain.registryGeneration &+ 1))
        #expect(runtime.table.state(row).pointee.load(ordering: .relaxed) & GenerationTable.activeBit != 0)
        #expect(GenerationTable.staleRetires.load(ordering: .relaxed) >= staleBefore + 1)
    }
}

@Suite("HyalineDomain destroy from inside")
struct HyalineDestroyInsideTests {
    /// destroy() waits for every reader to leave; called by a reader of the same domain it
    /// used to spin forever. Now: a typed error, the domain unchanged and still usable.
    @Test func destroyWhileHoldingAGuardIsATypedError() throws {
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4))
        let guardian = try domain.enter()
        #expect(throws: OffHeapError.destroyInsideDomain) { try domain.destroy() }
        // A nested guard (its own leased slot), and from inside withGuard.
        let nested = try domain.enter()
        #expect(throws: OffHeapError.destroyInsideDomain) { try domain.destroy() }
        nested.leave()
        #expect(!domain.isDestroyed)
        guardian.leave()
        _ = try domain.withGuard { _ throws(OffHeapError) in
            #expect(throws: OffHeapError.destroyInsideDomain) { try domain.destroy() }
        }
        #expect(!domain.isDestroyed)
        try domain.destroy()
        #expect(domain.isDestroyed)
        #expect(throws: OffHeapError.destroyed) { try domain.destroy() }
    }

    /// Without a runtime row every guard leases its own slot: detected the same way.
    @Test func destroyInsideWithLeasedSlotsIsATypedError() throws {
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4))
        let guardian = try domain.enter(retaining: true)
        let other = try domain.publish(slot: domain.leaseSlot(), entry: nil, retaining: true)
        guardian.leave()
        #expect(throws: OffHeapError.destroyInsideDomain) { try domain.destroy() }
        other.leave()
        try domain.destroy()
    }

    /// Another thread's guard is waited for, not mistaken for the caller's.
    @Test func concurrentDestroyWaitsForAnotherThreadsGuard() throws {
        let domain = try HyalineDomain(configuration: .init(maximumReaders: 4))
        let phase = Atomic<Int>(0)
        let reader = try PlatformThread {
            guard let guardian = try? domain.enter() else { phase.store(-1, ordering: .releasing); return }
            phase.store(1, ordering: .releasing)
            PlatformThread.sleep(nanoseconds: 20_000_000)
            phase.store(2, ordering: .releasing)
            guardian.leave()
        }
        while phase.load(ordering: .acquiring) == 0 { PlatformThread.yield() }
        try domain.destroy()
        #expect(phase.load(ordering: .acquiring) == 2)
        reader.join()
    }
}
