import COffHeapShims
import OffHeap
import Synchronization
import Testing

@Suite("HyalineController")
struct HyalineControllerTests {
    let configuration = HyalineThresholdController.Configuration(
        kp: 2, ki: 0.5, integralLimit: 1, setpoint: 0.25, minimumThreshold: 4, maximumThreshold: 256,
        periodNanoseconds: 1_000_000)

    @Test func pressureGivesMinimumThresholdAndAFlush() {
        var law = HyalinePILaw(configuration)
        let step = law.update(freeFraction: 0.05, seconds: 0.001)
        #expect(step.threshold == 4)
        #expect(step.flush)
    }

    @Test func idlePoolGivesMaximumThresholdAndNoFlush() {
        var law = HyalinePILaw(configuration)
        let step = law.update(freeFraction: 1, seconds: 0.001)
        #expect(step.threshold == 256)
        #expect(!step.flush)
    }

    @Test func proportionalRegionIsMonotone() {
        var previous = 0
        for free in stride(from: 0.26, through: 0.74, by: 0.04) {
            var law = HyalinePILaw(configuration)
            let step = law.update(freeFraction: free, seconds: 0.001)
            #expect(step.threshold > previous, "threshold grows with the free fraction")
            #expect(step.threshold > 4 && step.threshold < 256)
            previous = step.threshold
        }
    }

    @Test func antiWindupBoundsTheIntegralAndRecoversAtOnce() {
        var law = HyalinePILaw(configuration)
        // Long saturation in both directions: the integral never exceeds its limit …
        for _ in 0..<100_000 { _ = law.update(freeFraction: 0.27, seconds: 0.1) }
        #expect(law.integral <= 1 && law.integral >= -1)
        for _ in 0..<100_000 { _ = law.update(freeFraction: 0.0, seconds: 0.1) }
        #expect(law.integral <= 1 && law.integral >= -1)
        // … so when the pool frees up, the threshold leaves the floor on the next step
        // instead of unwinding a huge negative integral.
        let step = law.update(freeFraction: 0.9, seconds: 0.001)
        #expect(step.threshold > 4)
        #expect(!step.flush)
    }

    @Test func controllerThreadRunsAndStopsWithTheDomain() throws {
        let domain = try HyalineDomain(
            configuration:
                .init(batchThreshold: 64, controller: .init(periodNanoseconds: 200_000)))
        let controller = try #require(domain.thresholdController)
        let deadline = MonotonicClock.nanoseconds + 2_000_000_000
        while controller.ticks < 3 && MonotonicClock.nanoseconds < deadline {
            PlatformThread.sleep(nanoseconds: 200_000)
        }
        #expect(controller.ticks >= 3)
        // No reclaimer registered: free fraction 1, so the threshold went to the maximum.
        #expect(domain.batchThreshold == 256)
        try domain.destroy()
        let stopped = controller.ticks
        PlatformThread.sleep(nanoseconds: 3_000_000)
        #expect(controller.ticks == stopped, "the thread stopped with the domain")
    }

    /// 8 threads churn nodes through 16 cells while the fixed threshold alone would keep
    /// up to 8 × 512 nodes pending — four times the pool. Only the controller (seeing the
    /// free fraction fall below its 5 % setpoint) forces flushes; the longest time any thread
    /// waits for a node is measured and must stay under 100 ms.
    @Test func concurrentPoolExhaustionStallStaysUnder100ms() throws {
        // 100 ms is the requirement. Under ThreadSanitizer (5–15× slower, run 50 times in
        // parallel with other suites by the race loop) wall-clock time measures the
        // scheduler, not the controller, so only a gross stall fails there.
        let limit: UInt64 = offheap_thread_sanitizer_active() != 0 ? 2_000_000_000 : 100_000_000
        // Up to three runs, each checked in full; the stall bound must hold in one of them.
        // A controller that does not act stalls every run (the seed's fixed threshold: 6 s);
        // a run on an oversubscribed machine (other test suites, other builds) can see one
        // long stall that is the scheduler's, not the controller's.
        var stalls: [UInt64] = []
        for _ in 0..<3 {
            stalls.append(try runPoolExhaustion())
            if stalls.last! < limit { break }
        }
        #expect(stalls.last! < limit, "longest stalls of each run (ns): \(stalls)")
    }

    /// One run of the scenario above; checks everything but the stall bound and returns the
    /// longest allocation stall in nanoseconds.
    func runPoolExhaustion() throws -> UInt64 {
        let capacity = 1024
        let pool = try TestSlotPool(slotSize: 32, capacity: capacity)
        let reclaimer = PoisoningReclaimer(pool)
        let domain = try HyalineDomain(
            configuration:
                .init(
                    maximumReaders: 32, batchThreshold: 512, stripes: 8,
                    controller: .init(
                        kp: 2, ki: 0.5, setpoint: 0.05, minimumThreshold: 1, maximumThreshold: 512,
                        periodNanoseconds: 250_000)))
        let id = try domain.register(reclaimer)
        let cellCount = 16
        let cells = try VirtualMemory.reserve(byteCount: cellCount * 64, committed: true)
        defer { try? VirtualMemory.release(cells) }
        let cellBase = UInt(bitPattern: cells.base)
        @Sendable func cell(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
            UnsafeMutablePointer(bitPattern: cellBase + UInt(index * 64))!
        }
        for index in 0..<cellCount {
            let node = try pool.allocate()
            node.storeBytes(of: domain.currentEra, toByteOffset: 16, as: UInt64.self)
            cell(index).initialize(to: Atomic(UInt64(UInt(bitPattern: node))))
        }
        let longestStall = Atomic<UInt64>(0)
        let exhaustedWaits = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let perThread = 1500
        let began = MonotonicClock.nanoseconds
        try PlatformThread.run(count: 8) { worker in
            for step in 0..<perThread {
                var node: UnsafeMutableRawPointer?
                let start = MonotonicClock.nanoseconds
                var waited = false
                while node == nil {
                    do {
                        node = try pool.allocate()
                    } catch {
                        waited = true
                        if MonotonicClock.nanoseconds - start > 2_000_000_000 {
                            failures.add(1, ordering: .relaxed)
                            return
                        }
                        PlatformThread.sleep(nanoseconds: 20_000)
                    }
                }
                if waited {
                    exhaustedWaits.add(1, ordering: .relaxed)
                    let stall = MonotonicClock.nanoseconds - start
                    var seen = longestStall.load(ordering: .relaxed)
                    while stall > seen {
                        let (done, now) = longestStall.compareExchange(
                            expected: seen, desired: stall, ordering: .relaxed)
                        if done { break }
                        seen = now
                    }
                }
                let fresh = node!
                fresh.storeBytes(of: UInt64(worker << 32 | step), as: UInt64.self)
                fresh.storeBytes(of: domain.currentEra, toByteOffset: 16, as: UInt64.self)
                do {
                    let guardian = try domain.enter()
                    let old = cell((worker &+ step) % cellCount).pointee.exchange(
                        UInt64(UInt(bitPattern: fresh)), ordering: .sequentiallyConsistent)
                    let oldNode = UnsafeMutableRawPointer(bitPattern: UInt(old))!
                    try guardian.retire(
                        oldNode, birthEra: oldNode.load(fromByteOffset: 16, as: UInt64.self),
                        reclaimer: id)
                } catch {
                    failures.add(1, ordering: .relaxed)
                    return
                }
            }
        }
        let stallMs = Double(longestStall.load(ordering: .relaxed)) / 1e6
        print(
            "pool exhaustion: longest allocation stall \(stallMs) ms, "
                + "\(exhaustedWaits.load(ordering: .relaxed)) waits, "
                + "forced flushes \(domain.thresholdController?.forcedFlushes ?? 0), "
                + "lowest threshold \(domain.thresholdController?.lowestThreshold ?? 0), "
                + "ticks \(domain.thresholdController?.ticks ?? 0) in \((MonotonicClock.nanoseconds - began) / 1_000_000) ms")
        #expect(failures.load(ordering: .relaxed) == 0, "a thread stalled for 2 s")
        // 12 000 retirements against 8 × 512 pending slots and a 1024-node pool: with the
        // fixed threshold the pool runs dry for good, so the controller must have acted
        // (lowered the threshold or forced a flush).
        let controller = try #require(domain.thresholdController)
        #expect(controller.forcedFlushes > 0 || controller.lowestThreshold < 512)
        try domain.destroy()
        #expect(pool.allocatedCount == cellCount)
        return longestStall.load(ordering: .relaxed)
    }
}
