import OffHeap
import Synchronization
import Testing

/// A structure whose domain runs out of retire records (a stalled reader pins them) must
/// say so with a typed error and lose nothing; it used to retry 1,000 times and then leak
/// the unlinked node silently while returning its value.
@Suite("Retire failure")
struct RetireFailureTests {
    @Test func concurrentPopWithoutRetireRecordsIsATypedErrorAndLosesNothing() throws {
        let pool = try FreeList(.init(slotSize: 32, alignment: 16, capacity: 64))
        let domain = try HyalineDomain(
            .init(maxReaders: 4, recordCapacity: 10, batchThreshold: 1, stripes: 1))
        let stack = try LockFreeStack<UInt64, FreeList>(pool: pool, capacity: 64, domain: domain)
        for value in 0..<20 as Range<UInt64> { try stack.push(value) }
        // A reader that entered after the pushes pins every node retired from now on.
        let phase = Atomic<Int>(0)
        let reader = try PlatformThread {
            do throws(OffHeapError) {
                try domain.withGuard { guardian throws(OffHeapError) in
                    let anchor = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: 1)
                    anchor.initialize(to: Atomic(0))
                    _ = guardian.protect(anchor)
                    anchor.deallocate()
                    phase.store(1, ordering: .releasing)
                    while phase.load(ordering: .acquiring) != 2 { PlatformThread.yield() }
                }
            } catch {
                phase.store(-1, ordering: .releasing)
            }
        }
        while phase.load(ordering: .acquiring) == 0 { PlatformThread.yield() }
        var popped: [UInt64] = []
        var failure: OffHeapError?
        while failure == nil && popped.count < 20 {
            do throws(OffHeapError) {
                guard let value = try stack.pop() else { break }
                popped.append(value)
            } catch {
                failure = error
            }
        }
        #expect(failure == .retireRecordsExhausted(recordCapacity: 10))
        #expect(popped.count < 20)
        phase.store(2, ordering: .releasing)
        reader.join()
        // Nothing lost: the rest is still on the stack, and every node comes back.
        while let value = try stack.pop() { popped.append(value) }
        #expect(popped == Array((0..<20 as Range<UInt64>).reversed()))
        _ = domain.reclaimPending()
        #expect(pool.stats.inUse == 0)
    }
}
