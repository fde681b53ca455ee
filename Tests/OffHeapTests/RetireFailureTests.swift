import OffHeap
import Synchronization
import Testing

/// A structure whose domain runs out of retire records (a stalled reader pins them) must
/// say so with a typed error and lose nothing; it used to retry 1,000 times and then leak
/// the unlinked node silently while returning its value.
///
/// That property must hold for every kind of guard `pop` can get: the thread's sticky slot
/// (private record list), a nested guard, and a domain without a ``HyalineRuntime`` row
/// (more than 256 live domains in the process: every guard leases a slot of its own). The
/// last two once reserved nothing, so the 11th pop leaked its node; the whole test suite,
/// run in parallel, made this test's domain row-less whenever it overlapped
/// `domainsBeyondTheRuntimeRowsLeaseASlotPerGuard` (300 live domains).
@Suite("Retire failure")
struct RetireFailureTests {
    static let configuration = HyalineDomain.Configuration(
        maximumReaders: 4, recordCapacity: 10, batchThreshold: 1, stripes: 1)

    @Test func concurrentPopWithoutRetireRecordsIsATypedErrorAndLosesNothing() throws {
        try Self.popPastExhaustionBesideAStalledReader(try HyalineDomain(configuration: Self.configuration))
    }

    /// Pops until the domain runs out of retire records while a reader on another thread,
    /// inside `domain` since before the first pop, pins every retired node; then checks the
    /// typed error, that nothing was lost, and that every node comes back.
    static func popPastExhaustionBesideAStalledReader(_ domain: HyalineDomain) throws {
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 64))
        let stack = try LockFreeStack<UInt64, FreeList>(pool: pool, domain: domain)
        for value in 0..<20 as Range<UInt64> { try stack.push(value) }
        // A reader that entered after the pushes pins every node retired from now on.
        // phase: 0 starting, 1 inside, 2 may leave; a failed enter stores its error.
        let phase = Atomic<Int>(0)
        let enterFailure = Atomic<Int>(0)
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
                enterFailure.store(
                    error == .readerSlotsExhausted(maximumReaders: 4) ? 1 : 2,
                    ordering: .relaxed)
                phase.store(-1, ordering: .releasing)
            }
        }
        while phase.load(ordering: .acquiring) == 0 { PlatformThread.yield() }
        // The precondition: the reader is inside (else nothing pins the records).
        guard phase.load(ordering: .acquiring) == 1 else {
            reader.join()
            Issue.record("the reader could not enter (\(enterFailure.load(ordering: .relaxed)))")
            return
        }
        var popped = try Self.popUntilRecordsRunOut(stack)
        phase.store(2, ordering: .releasing)
        reader.join()
        try Self.expectNothingLost(stack, pool, domain, popped: &popped)
    }

    /// Pops while a reader pins every retired node: must stop at the typed error before all
    /// 20 values come out. Returns the values popped.
    static func popUntilRecordsRunOut(_ stack: LockFreeStack<UInt64, FreeList>) throws -> [UInt64] {
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
        return popped
    }

    /// With the reader gone: the rest is still on the stack, and every node comes back.
    static func expectNothingLost(
        _ stack: LockFreeStack<UInt64, FreeList>, _ pool: FreeList, _ domain: HyalineDomain,
        popped: inout [UInt64]
    ) throws {
        while let value = try stack.pop() { popped.append(value) }
        #expect(popped == Array((0..<20 as Range<UInt64>).reversed()))
        _ = domain.reclaimPending()
        #expect(pool.statistics.inUse == 0)
    }

    /// The same with the reader on the popping thread itself: every `pop` then runs in a
    /// nested guard (no private record list). Deterministic, no second thread.
    @Test func nestedPopWithoutRetireRecordsIsATypedErrorAndLosesNothing() throws {
        let domain = try HyalineDomain(configuration: Self.configuration)
        let pool = try FreeList(configuration: .init(slotSize: 32, slotAlignment: 16, capacity: 64))
        let stack = try LockFreeStack<UInt64, FreeList>(pool: pool, domain: domain)
        for value in 0..<20 as Range<UInt64> { try stack.push(value) }
        let anchor = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: 1)
        anchor.initialize(to: Atomic(0))
        defer { anchor.deallocate() }
        let reader = try domain.enter()
        _ = reader.protect(anchor)
        var popped = try Self.popUntilRecordsRunOut(stack)
        reader.leave()
        try Self.expectNothingLost(stack, pool, domain, popped: &popped)
    }

    /// The same in a domain without a runtime row: more than 256 domains are alive, so this
    /// one's guards each lease a slot (no private record list), as in a parallel suite run.
    @Test func rowlessDomainPopWithoutRetireRecordsIsATypedErrorAndLosesNothing() throws {
        // 256 rows in all: with these alive, no row is left for the domain below, whatever
        // other tests hold.
        var fillers: [HyalineDomain] = []
        for _ in 0..<256 {
            fillers.append(try HyalineDomain(configuration: .init(maximumReaders: 1, recordCapacity: 4)))
        }
        // A parallel test's domain may die between the fillers and ours and free its row:
        // then ours takes it; keep that one as a filler too and make another (bounded).
        var domain = try HyalineDomain(configuration: Self.configuration)
        var attempts = 1
        while try Self.hasRuntimeRow(domain) {
            fillers.append(domain)
            attempts += 1
            try #require(attempts <= 64, "64 domains in a row got a runtime row")
            domain = try HyalineDomain(configuration: Self.configuration)
        }
        fillers.removeAll()
        try Self.popPastExhaustionBesideAStalledReader(domain)
    }

    /// Row-less: consecutive guards of one thread lease rotating slots (a domain with a row
    /// gives the thread the same sticky slot every time).
    static func hasRuntimeRow(_ domain: HyalineDomain) throws -> Bool {
        let first = try domain.withGuard { guardian throws(OffHeapError) in guardian.slotIndex }
        let second = try domain.withGuard { guardian throws(OffHeapError) in guardian.slotIndex }
        return first == second
    }
}
