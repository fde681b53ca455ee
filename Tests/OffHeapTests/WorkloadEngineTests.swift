import OffHeap
import OffHeapWorkloads
import Testing

@Suite("Workload engine")
struct WorkloadEngineTests {
    @Test func histogramBucketsContainTheirValues() {
        var random = WorkloadRandom(seed: 42)
        for _ in 0..<10_000 {
            let value = random.next() >> UInt64(random.next(below: 64))
            let bucket = LatencyHistogram.bucket(of: value)
            #expect(bucket >= 0 && bucket < LatencyHistogram.bucketCount)
            #expect(LatencyHistogram.lowerBound(of: bucket) <= value)
            #expect(value <= LatencyHistogram.upperBound(of: bucket))
        }
    }

    @Test func histogramPercentilesAreWithinBucketResolution() {
        var h = LatencyHistogram()
        for value in 1...10_000 { h.record(UInt64(value)) }
        #expect(h.totalCount == 10_000)
        for (p, exact) in [(50.0, 5_000.0), (99.0, 9_900.0), (99.9, 9_990.0)] {
            let got = Double(h.percentile(p))
            #expect(abs(got - exact) / exact < 0.0625, "p\(p) = \(got), exact \(exact)")
        }
        var other = LatencyHistogram()
        other.record(1_000_000)
        h.merge(other)
        #expect(h.totalCount == 10_001)
        #expect(h.maximum == 1_000_000)
        #expect(h.percentile(100) == 1_000_000)
        #expect(LatencyHistogram().percentile(50) == 0)
    }

    @Test func durationsParse() throws {
        #expect(try RunLimit.parseDuration("10s") == .duration(nanoseconds: 10_000_000_000))
        #expect(try RunLimit.parseDuration("2m") == .duration(nanoseconds: 120_000_000_000))
        #expect(try RunLimit.parseDuration("1h") == .duration(nanoseconds: 3_600_000_000_000))
        #expect(try RunLimit.parseDuration("500ms") == .duration(nanoseconds: 500_000_000))
        for bad in ["", "10", "s", "0s", "-1s", "10x", "1.5s", "99999999999999999999s", "10000h"] {
            #expect(throws: OffHeapError.self, "\(bad)") { try RunLimit.parseDuration(bad) }
        }
    }

    @Test func systemAllocatorBoundsAndRecovers() throws {
        let system = try SystemAllocator(slotSize: 48, capacity: 3)
        let slots = try (0..<3).map { _ in try system.allocate() }
        #expect(Set(slots.map { UInt(bitPattern: $0) }).count == 3)
        #expect(throws: OffHeapError.capacityExhausted(capacity: 3)) { try system.allocate() }
        try system.deallocate(slots[0])
        let again = try system.allocate()
        #expect(system.liveCount == 3)
        for p in [again, slots[1], slots[2]] { try system.deallocate(p) }
        #expect(system.liveCount == 0)
        #expect(throws: OffHeapError.zeroSize) { try system.allocate(byteCount: 0, alignment: 8) }
        #expect(throws: OffHeapError.invalidAlignment(3)) { try system.allocate(byteCount: 8, alignment: 3) }
        #expect(throws: OffHeapError.self) { try SystemAllocator(slotSize: 0) }
        #expect(throws: OffHeapError.self) { try SystemAllocator(slotSize: 8, capacity: 0) }
        let aligned = try system.allocate(byteCount: 100, alignment: 256)
        #expect(UInt(bitPattern: aligned) % 256 == 0)
        try system.deallocate(aligned)
    }

    @Test func fixedSizeAdapterRefusesOversizedRequests() throws {
        let adapter = FixedSizeAdapter(try SystemAllocator(slotSize: 128))
        #expect(throws: OffHeapError.sizeTooLarge(requested: 129, limit: 128)) {
            try adapter.allocate(byteCount: 129, alignment: 8)
        }
        #expect(throws: OffHeapError.zeroSize) { try adapter.allocate(byteCount: 0, alignment: 8) }
        #expect(throws: OffHeapError.invalidAlignment(64)) { try adapter.allocate(byteCount: 8, alignment: 64) }
        let p = try adapter.allocate(byteCount: 128, alignment: 16)
        try adapter.deallocate(p)
    }

    @Test func operationQuotaIsSplitExactly() throws {
        let control = try RunControl(lanes: 3, limit: .operations(10))
        #expect(control.remaining(lane: 0, done: 0) + control.remaining(lane: 1, done: 0)
            + control.remaining(lane: 2, done: 0) == 10)
        control.distributeQuota(over: [0, 2])
        #expect(control.remaining(lane: 1, done: 0) == 0)
        #expect(control.remaining(lane: 0, done: 0) + control.remaining(lane: 2, done: 0) == 10)
        control.requestStop()
        #expect(control.remaining(lane: 0, done: 0) == 0)
        #expect(throws: OffHeapError.self) { try RunControl(lanes: 0, limit: .operations(1)) }
        #expect(throws: OffHeapError.self) { try RunControl(lanes: 1, limit: .operations(0)) }
    }

    @Test func stressConfigRejectsImpossibleRoles() throws {
        var config = StressConfig()
        config.threads = 2
        config.roles = [.publisher, .bounce]
        #expect(throws: OffHeapError.self) { try config.validate() }
        config.roles = [.reader, .bounce]
        #expect(throws: OffHeapError.self) { try config.validate() }
        config.roles = [.publisher, .reader]
        #expect(throws: Never.self) { try config.validate() }
        config.sampleEvery = 3
        #expect(throws: OffHeapError.self) { try config.validate() }
        #expect(throws: OffHeapError.self) { try StressRole.parseList("bounce,juggle") }
        #expect(try StressRole.parseList("retire,burst") == [.retire, .burst])
    }

    @Test func machineFactsAreConsistent() {
        let m = MachineFacts.current()
        #expect(m.arch == MachineFacts.buildArch)
        #expect(m.cores >= 1)
        #expect(m.pageSize == VirtualMemory.pageSize)
        #expect(m.virtualAddressBits >= 39 && m.virtualAddressBits <= 57)
        if m.arch == "x86_64" { #expect(m.virtualAddressBits == (m.la57 ? 57 : 48)) }
        #expect(m.emulated == false)
        #expect(!m.kernel.isEmpty && m.kernel != "unknown")
    }
}

@Suite("Workload math")
struct WorkloadMathTests {
    @Test func squareRootMatchesTheStandardLibrary() {
        var random = WorkloadRandom(seed: 7)
        for _ in 0..<10_000 {
            let x = abs(random.nextUnitFloat()) * Float(1 << random.next(below: 40)) + 1e-6
            let expected = x.squareRoot()
            #expect(abs(Workloads.squareRoot(x) - expected) <= expected * 1e-6, "\(x)")
        }
        #expect(Workloads.squareRoot(0) == 0)
        #expect(Workloads.squareRoot(-4) == 0)
        #expect(abs(Workloads.squareRoot(1536) - Float(1536).squareRoot()) < 1e-4)
    }
}
