import Testing

@testable import OffHeap

#if canImport(Glibc)
    import Glibc
#endif

/// The allocators' invariants are asserted in debug builds (`assert`, compiled out at -O).
/// Each test breaks one invariant by hand in a child process (a Swift Testing exit test) and
/// expects that child to stop with the assertion's own message: a child that runs on to
/// `exit(0)` fails the expectation, and so does one that dies of anything else.
@Suite("Invariant assertions")
struct InvariantAssertionTests {
    #if DEBUG
        /// Expects the child's stderr to carry the assertion `message`.
        static func expectMessage(
            _ message: String, in result: ExitTest.Result?,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
            #expect(stderr.contains(message), "child's stderr: \(stderr)", sourceLocation: sourceLocation)
        }

        /// The descriptor of the page serving `block` (small blocks only).
        static func page(of block: UnsafeMutableRawPointer) -> PagePointer {
            let address = UInt(bitPattern: block)
            let segment = UnsafeMutableRawPointer(bitPattern: address & ~SegmentLayout.segmentMask)!
            let unit = Int((address & SegmentLayout.segmentMask) >> UInt(SegmentLayout.unitShift))
            return SegmentLayout.pageMeta(
                segment, Int(SegmentLayout.pageMeta(segment, unit).pointee.leader))
        }

        @Test(
            .enabled(
                if: !SizeClassHeapResidentMemoryTests.underSanitizer,
                "a sanitizer runtime would report the child's trap as an error of its own"))
        func heapOwnerFreeBelowZeroInUseTraps() async {
            let result = await #expect(
                processExitsWith: .failure, observing: [\.standardErrorContent]
            ) {
                guard let heap = try? SizeClassHeap(), let block = try? heap.allocate(byteCount: 48)
                else { exit(0) }
                Self.page(of: block).pointee.used = 0  // as if the block had been freed already
                try? heap.deallocate(block)
                exit(0)
            }
            Self.expectMessage("in-use count went below zero", in: result)
        }

        @Test(
            .enabled(
                if: !SizeClassHeapResidentMemoryTests.underSanitizer,
                "a sanitizer runtime would report the child's trap as an error of its own"))
        func releasingAPageWithBlocksInUseTraps() async {
            let result = await #expect(
                processExitsWith: .failure, observing: [\.standardErrorContent]
            ) {
                guard let heap = try? SizeClassHeap(), let block = try? heap.allocate(byteCount: 48)
                else { exit(0) }
                let page = Self.page(of: block)
                HeapCore.unlink(
                    page,
                    from: ThreadHeap.queue(
                        ThreadRecord.lookup(heap.core.id)!, Int(page.pointee.classIndex)))
                heap.core.releasePage(page)
                exit(0)
            }
            Self.expectMessage("released a page with blocks in use", in: result)
        }

        @Test(
            .enabled(
                if: !SizeClassHeapResidentMemoryTests.underSanitizer,
                "a sanitizer runtime would report the child's trap as an error of its own"))
        func freeListSlotStateOutOfRangeTraps() async {
            let result = await #expect(
                processExitsWith: .failure, observing: [\.standardErrorContent]
            ) {
                guard let pool = try? FreeList(configuration: .init(slotSize: 64, capacity: 16)),
                    let slot = try? pool.allocate(), let index = try? pool.slotIndex(of: slot)
                else { exit(0) }
                pool.states[index].store(7, ordering: .relaxed)
                try? pool.deallocate(slot)
                exit(0)
            }
            Self.expectMessage("a slot state outside free, allocated, freed by reset", in: result)
        }

        @Test(
            .enabled(
                if: !SizeClassHeapResidentMemoryTests.underSanitizer,
                "a sanitizer runtime would report the child's trap as an error of its own"))
        func overfullMagazineTraps() async {
            let result = await #expect(
                processExitsWith: .failure, observing: [\.standardErrorContent]
            ) {
                guard let pool = try? ShardedFreeList(slotSize: 64, capacity: 1024),
                    let slot = try? pool.allocate(), let cache = pool.callingThreadCache()
                else { exit(0) }
                cache.count = pool.magazineSize + 1
                try? pool.deallocate(slot)
                exit(0)
            }
            Self.expectMessage("a magazine holds more than magazineSize slots", in: result)
        }

        @Test(
            .enabled(
                if: !SizeClassHeapResidentMemoryTests.underSanitizer,
                "a sanitizer runtime would report the child's trap as an error of its own"))
        func batchReferenceCountOutOfRangeTraps() async {
            let result = await #expect(
                processExitsWith: .failure, observing: [\.standardErrorContent]
            ) {
                Self.leaveWithAnOverfullBatchCount()
                exit(0)
            }
            Self.expectMessage("a batch reference count out of range", in: result)
        }

        /// A reader leaves holding a batch record whose count was set beyond `maximumReaders`.
        static func leaveWithAnOverfullBatchCount() {
            guard let pool = try? TestSlotPool(slotSize: 16, capacity: 64),
                let domain = try? HyalineDomain(configuration: .init(maximumReaders: 4, batchThreshold: 1, stripes: 1)),
                let id = try? domain.register(PoisoningReclaimer(pool)),
                let reader = try? domain.enter(), let node = try? pool.allocate()
            else { return }
            do {
                guard let writer = try? domain.enter() else { return }
                try? writer.retire(node, birthEra: 0, reclaimer: id)
                writer.flushPending()
            }
            // The flush inserted a record of the batch into the reader's slot.
            let inserted = domain.slotWord(reader.slot, HyalineDomain.Layout.slotHead)
                .pointee.load(ordering: .relaxed)
            guard inserted != 0, inserted < HyalineDomain.Layout.leaving else { return }
            let batch = domain.recordWord(inserted, HyalineDomain.Layout.recordBatch)
                .pointee.load(ordering: .relaxed)
            domain.recordWord(batch, HyalineDomain.Layout.recordRefs)
                .pointee.store(1000, ordering: .relaxed)
            reader.leave()
        }
    #endif
}
