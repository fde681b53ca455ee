import OffHeap
import Testing

/// The table at ``OffHeapError``: each mistake gets the same error from every allocator, and
/// the allocator (or, for a configuration mistake, an allocator made before and one made
/// after) keeps working.
@Suite("Same mistake, same error")
struct SameMistakeSameErrorTests {
    enum Subject: String, CaseIterable, Sendable {
        case freeList, shardedFreeList, arena, slabPool, sizeClassHeap
    }

    enum Mistake: String, CaseIterable, Sendable {
        case badAlignment, zeroSize, negativeSize, oversized, badCapacity
    }

    /// The error the table gives for `mistake` on `subject`; `nil`: not an error (only
    /// `SizeClassHeap.allocate(byteCount: 0)`, which returns a minimum block like `malloc(0)`).
    static func expected(_ subject: Subject, _ mistake: Mistake) -> OffHeapError? {
        let limit: Int
        switch subject {
        case .freeList: limit = 1 << 45
        case .shardedFreeList: limit = 1 << 40
        case .arena: limit = 1 << 20  // the subject's capacity
        case .slabPool: limit = SlabPool.maximumByteCount
        case .sizeClassHeap: limit = SizeClassHeap.maximumByteCount
        }
        switch mistake {
        case .badAlignment: return .invalidAlignment(24)
        case .zeroSize: return subject == .sizeClassHeap ? nil : .zeroSize
        case .negativeSize: return .sizeTooLarge(requested: -8, limit: limit)
        case .oversized:
            let requested = subject == .arena ? limit + 1 : 1 << 50
            return .sizeTooLarge(requested: requested, limit: limit)
        case .badCapacity: return .invalidConfiguration(reason: "")
        }
    }

    /// A live allocator of `subject` behind two closures: one allocation-and-free round trip
    /// (`roundTrip`), and the request that makes `mistake` (`commit`), on the live allocator
    /// for byte allocators' requests, on a fresh configuration otherwise.
    struct Probe {
        let roundTrip: () throws(OffHeapError) -> Void
        let commit: () throws(OffHeapError) -> Void
    }

    static func probe(_ subject: Subject, _ mistake: Mistake) throws(OffHeapError) -> Probe {
        // Fixed-size allocators: every mistake is a configuration value.
        func slotConfiguration() -> (slotSize: Int, slotAlignment: Int, capacity: Int) {
            switch mistake {
            case .badAlignment: return (64, 24, 16)
            case .zeroSize: return (0, 16, 16)
            case .negativeSize: return (-8, 16, 16)
            case .oversized: return (1 << 50, 16, 16)
            case .badCapacity: return (64, 16, 0)
            }
        }
        // Byte allocators: a request with the mistake in it.
        func request(_ allocate: (Int, Int) throws(OffHeapError) -> UnsafeMutableRawPointer, limit: Int)
            throws(OffHeapError)
        {
            switch mistake {
            case .badAlignment: _ = try allocate(64, 24)
            case .zeroSize: _ = try allocate(0, 16)
            case .negativeSize: _ = try allocate(-8, 16)
            case .oversized: _ = try allocate(limit, 16)
            case .badCapacity: break
            }
        }
        switch subject {
        case .freeList:
            let pool = try FreeList(configuration: .init(slotSize: 64, capacity: 16))
            let bad = slotConfiguration()
            return Probe(
                roundTrip: { () throws(OffHeapError) in try pool.deallocate(try pool.allocate()) },
                commit: { () throws(OffHeapError) in
                    _ = try FreeList(
                        configuration: .init(
                            slotSize: bad.slotSize, slotAlignment: bad.slotAlignment,
                            capacity: bad.capacity))
                })
        case .shardedFreeList:
            let pool = try ShardedFreeList(configuration: .init(slotSize: 64, capacity: 16))
            let bad = slotConfiguration()
            return Probe(
                roundTrip: { () throws(OffHeapError) in try pool.deallocate(try pool.allocate()) },
                commit: { () throws(OffHeapError) in
                    _ = try ShardedFreeList(
                        configuration: .init(
                            slotSize: bad.slotSize, slotAlignment: bad.slotAlignment,
                            capacity: bad.capacity))
                })
        case .arena:
            let arena = try Arena(configuration: .init(capacity: 1 << 20))
            return Probe(
                roundTrip: { () throws(OffHeapError) in
                    try arena.deallocate(try arena.allocate(byteCount: 64))
                },
                commit: { () throws(OffHeapError) in
                    if mistake == .badCapacity {
                        _ = try Arena(configuration: .init(capacity: 0))
                    } else {
                        try request(
                            { (n, a) throws(OffHeapError) in
                                try arena.allocate(byteCount: n, alignment: a)
                            }, limit: arena.capacity + 1)
                    }
                })
        case .slabPool:
            let pool = try SlabPool(configuration: .init(slabSize: 1 << 16, maximumSlabs: 4))
            return Probe(
                roundTrip: { () throws(OffHeapError) in
                    try pool.deallocate(try pool.allocate(byteCount: 64))
                    try pool.deallocate(try pool.allocate(byteCount: 1 << 15 + 1))  // its own mapping
                },
                commit: { () throws(OffHeapError) in
                    if mistake == .badCapacity {
                        _ = try SlabPool(configuration: .init(maximumSlabs: 0))
                    } else {
                        try request(
                            { (n, a) throws(OffHeapError) in
                                try pool.allocate(byteCount: n, alignment: a)
                            }, limit: 1 << 50)
                    }
                })
        case .sizeClassHeap:
            let heap = try SizeClassHeap()
            return Probe(
                roundTrip: { () throws(OffHeapError) in
                    try heap.deallocate(try heap.allocate(byteCount: 64))
                },
                commit: { () throws(OffHeapError) in
                    if mistake == .badCapacity {
                        _ = try SizeClassHeap(configuration: .init(maximumCachedSegments: -1))
                    } else if mistake == .zeroSize {
                        try heap.deallocate(try heap.allocate(byteCount: 0))
                    } else {
                        try request(
                            { (n, a) throws(OffHeapError) in
                                try heap.allocate(byteCount: n, alignment: a)
                            }, limit: 1 << 50)
                    }
                })
        }
    }

    @Test(arguments: Subject.allCases, Mistake.allCases)
    func mistakeGetsTheTabledErrorAndTheAllocatorStillWorks(
        subject: Subject, mistake: Mistake
    ) throws {
        let probe = try Self.probe(subject, mistake)
        try probe.roundTrip()
        var thrown: OffHeapError?
        do throws(OffHeapError) {
            try probe.commit()
        } catch {
            thrown = error
        }
        let expected = Self.expected(subject, mistake)
        if case .invalidConfiguration = expected {
            // The reason names the field, in the allocator's own words: the case is the contract.
            #expect(thrown?.kind == .invalidConfiguration, "\(subject) \(mistake): \(String(describing: thrown))")
        } else {
            #expect(thrown == expected, "\(subject) \(mistake)")
        }
        // The allocator that saw the mistake still works, and so does a fresh one.
        try probe.roundTrip()
        try Self.probe(subject, .badCapacity).roundTrip()
    }
}
