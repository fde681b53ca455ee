#if canImport(Glibc)
    import Glibc
#endif
import Synchronization
import Testing

@testable import OffHeap

/// The store-buffering litmus test on ``AsymmetricFence``: thread L stores `x`, takes the
/// light fence and loads `y`; thread H stores `y`, takes the heavy fence and loads `x`. The
/// outcome "both loads saw 0" is what the fence pair forbids (x86-64 and aarch64 both allow
/// it without fences: each store can sit in its CPU's store buffer past the other's load).
/// If `heavy()` stopped being a barrier on the other thread (a no-op, or a fence on the
/// calling thread only), the forbidden outcome becomes reachable.
@Suite("AsymmetricFence")
struct AsymmetricFenceTests {
    final class Litmus: Sendable {
        let x = Atomic<Int>(0)
        let y = Atomic<Int>(0)
        let arrived = Atomic<Int>(0)
        let lightSaw = Atomic<Int>(0)
        let heavySaw = Atomic<Int>(0)

        /// Both threads leave round `round`'s barrier at nearly the same moment.
        func meet(_ round: Int) {
            arrived.wrappingAdd(1, ordering: .acquiringAndReleasing)
            while arrived.load(ordering: .acquiring) < 2 * round {}
        }
    }

    /// A few hundred nanoseconds at most, different per round and side, so the two store-load
    /// windows slide across each other (as litmus7's random delays do).
    @inline(never)
    static func stagger(_ state: inout UInt64) {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        var sink = 0
        for index in 0..<Int(truncatingIfNeeded: (state >> 58)) { sink &+= index }
        _ = withExtendedLifetime(sink) { 0 }
    }

    @Test func storeBufferingOutcomeIsForbidden() throws {
        let rounds = 20_000
        let litmus = Litmus()
        // Without membarrier the light side must be a real fence too (what callers do).
        let available = AsymmetricFence.isAvailable
        let lightThread = try PlatformThread {
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            for round in 1...rounds {
                litmus.meet(2 * round - 1)
                AsymmetricFenceTests.stagger(&state)
                litmus.x.store(1, ordering: .relaxed)
                if available {
                    AsymmetricFence.light()
                } else {
                    atomicMemoryFence(ordering: .sequentiallyConsistent)
                }
                litmus.lightSaw.store(litmus.y.load(ordering: .relaxed), ordering: .relaxed)
                litmus.meet(2 * round)
            }
        }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var forbidden = 0
        for round in 1...rounds {
            litmus.meet(2 * round - 1)
            AsymmetricFenceTests.stagger(&state)
            litmus.y.store(1, ordering: .relaxed)
            AsymmetricFence.heavy()
            let heavySaw = litmus.x.load(ordering: .relaxed)
            litmus.meet(2 * round)
            // Both sides are past their loads: reset before the next round's barrier.
            if heavySaw == 0 && litmus.lightSaw.load(ordering: .relaxed) == 0 { forbidden += 1 }
            litmus.x.store(0, ordering: .relaxed)
            litmus.y.store(0, ordering: .relaxed)
        }
        lightThread.join()
        #expect(forbidden == 0, "\(forbidden) of \(rounds) rounds saw neither store")
    }

    /// On a Linux kernel that lists expedited private membarrier, registration succeeds, so
    /// heaps take the light path; the answer is fixed for the process.
    @Test func availabilityIsStableAndHeapsFollowIt() throws {
        let available = AsymmetricFence.isAvailable
        // OFFHEAP_MEMBARRIER=0 (the TSan cell's fallback pass) forces the SC fallback.
        if let setting = getenv("OFFHEAP_MEMBARRIER"), setting.pointee == UInt8(ascii: "0") {
            #expect(!available)
        }
        #expect(AsymmetricFence.isAvailable == available)
        let heap = try SizeClassHeap()
        #expect(heap.lightAnnouncements == available)
    }
}
