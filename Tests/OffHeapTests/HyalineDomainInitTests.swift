@testable import OffHeap
import Synchronization
import Testing

@Suite("HyalineDomain init error paths")
struct HyalineDomainInitTests {
    /// The controller thread fails to start after every stored property is set: the error
    /// is typed, the domain's runtime row is retired exactly once (a second retire would
    /// clear a row another domain may have claimed since) and its region unmapped once (by
    /// `deinit`, which runs for a class whose init throws after full initialisation).
    @Test func controllerStartFailureCleansUpOnce() throws {
        let staleBefore = HyalineRuntime.staleRetires.load(ordering: .relaxed)
        for _ in 0..<8 {
            #expect(throws: OffHeapError.threadStartFailed(errno: 11)) {
                _ = try HyalineDomain(
                    .init(maxReaders: 4, controller: .init()),
                    startThread: { _ throws(OffHeapError) in throw .threadStartFailed(errno: 11) })
            }
        }
        #expect(HyalineRuntime.staleRetires.load(ordering: .relaxed) == staleBefore)
        // Domains made afterwards claim rows and work normally.
        let domain = try HyalineDomain(.init(maxReaders: 4))
        #expect(domain.registryRow >= 0)
        let guardian = try domain.enter()
        _ = guardian
    }

    /// A second retire of a row (stale generation) changes nothing.
    @Test func staleRowRetireIsRefused() throws {
        let runtime = try #require(HyalineRuntime.shared)
        let domain = try HyalineDomain(.init(maxReaders: 4))
        let row = domain.registryRow
        try #require(row >= 0)
        let staleBefore = HyalineRuntime.staleRetires.load(ordering: .relaxed)
        #expect(!runtime.retire(row, generation: domain.registryGeneration &+ 1))
        #expect(runtime.state(row).pointee.load(ordering: .relaxed) & HyalineRuntime.activeBit != 0)
        #expect(HyalineRuntime.staleRetires.load(ordering: .relaxed) >= staleBefore + 1)
    }
}
