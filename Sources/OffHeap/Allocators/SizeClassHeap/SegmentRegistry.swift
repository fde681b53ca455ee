import COffHeapShims
import Synchronization

/// Process-wide map from 4 MiB segment base to the id of the heap that owns it (package
/// access: heaps use it, tests exercise it; nothing outside may publish).
///
/// Two levels, both anonymous mappings that stay zero (unbacked) until written: the first
/// indexed by `address >> 38` (covering 57-bit addresses, so LA57 user space works), the
/// second a 64 Ki-entry chunk per 256 GiB of address space. Lookups are lock-free: two
/// acquiring loads, no hashing, no probing. Writers take a spinlock.
///
/// Invariant: a segment's header is fully written before its entry is stored (release), and
/// its entry is cleared (release) before the segment is unmapped; a chunk is initialised
/// before its first-level slot is published (release), and chunks are never freed. So a
/// reader that sees an entry equal to its heap id may read that segment's header, and a
/// pointer into memory this heap never mapped (or already unmapped) reads 0: a typed
/// `foreignPointer`, not a fault.
///
/// Unmap epoch: a counter in the word after the first level, bumped (sequentially
/// consistent RMW) by every ``unpublish(segmentBase:)`` after it clears the entry, so before
/// the caller unmaps the segment. A confirmation "segment S is heap H's" obtained by reading
/// the epoch (acquire) as E *before* the lookup stays valid while the epoch still reads E:
/// any unpublish that could end it bumps the epoch first. Heaps use this for a per-thread
/// one-entry cache of the last confirmed segment (``SegmentCacheEntry``).
///
/// ```swift
/// SegmentRegistry.shared.publish(segmentBase: base, heapID: 7)
/// SegmentRegistry.shared.owner(ofSegment: base)   // 7
/// SegmentRegistry.shared.unpublish(segmentBase: base)
/// ```
@usableFromInline
package final class SegmentRegistry: @unchecked Sendable {
    // @unchecked Sendable: the tables are raw mappings accessed only through atomics; writes
    // are serialised by `lock`.
    @inlinable static var chunkShift: Int { 38 }
    @inlinable static var levelOneCount: Int { 1 << (57 - 38) }
    @inlinable static var chunkEntries: Int { 1 << (chunkShift - SegmentLayout.segmentShift) }

    /// The process-wide registry.
    package static let shared = SegmentRegistry()

    /// `nil` only if the first level could not be mapped; then nothing can be published and
    /// every lookup answers 0.
    @usableFromInline let levelOne: UnsafeMutablePointer<Atomic<UInt>>?
    private let lock = Atomic<UInt32>(0)

    private init() {
        // The first level, then one cache line holding the unmap epoch.
        let bytes = SegmentRegistry.levelOneCount * MemoryLayout<UInt>.stride + 64
        // Zero-filled and unbacked until touched; a zero word is a valid `Atomic<UInt>(0)`.
        let region = try? VirtualMemory.reserve(byteCount: bytes, committed: true)
        levelOne = region?.base.assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// The unmap epoch, stored after the first level `levelOne` (see the type comment).
    @inlinable @inline(__always)
    static func unmapEpoch(levelOne: UnsafeMutablePointer<Atomic<UInt>>)
        -> UnsafeMutablePointer<Atomic<UInt>>
    {
        levelOne + SegmentRegistry.levelOneCount
    }

    /// The heap id registered for the segment containing `address`, or 0.
    @inlinable @inline(__always)
    package func owner(ofSegment address: UInt) -> UInt64 {
        guard let levelOne else { return 0 }
        return SegmentRegistry.owner(ofSegment: address, levelOne: levelOne)
    }

    /// ``owner(ofSegment:)`` given the first level (`shared.levelOne`, which never changes),
    /// so a heap that keeps a copy of it skips the load of the registry object.
    @inlinable @inline(__always)
    static func owner(
        ofSegment address: UInt, levelOne: UnsafeMutablePointer<Atomic<UInt>>
    ) -> UInt64 {
        let top = address &>> SegmentRegistry.chunkShift
        guard top < UInt(SegmentRegistry.levelOneCount) else { return 0 }
        let chunk = levelOne[Int(top)].load(ordering: .acquiring)
        guard chunk != 0 else { return 0 }
        let index = Int((address &>> UInt(SegmentLayout.segmentShift))
            & UInt(SegmentRegistry.chunkEntries - 1))
        let entries = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: chunk).unsafelyUnwrapped
        return UInt64(entries[index].load(ordering: .acquiring))
    }

    /// Registers `segmentBase` (4 MiB-aligned) for `heapID`, after its header is written.
    package func publish(segmentBase: UInt, heapID: UInt64) throws(OffHeapError) {
        let top = Int(segmentBase &>> SegmentRegistry.chunkShift)
        guard top < SegmentRegistry.levelOneCount else { throw .foreignPointer }
        guard let levelOne else { throw .mappingFailed(errno: 12) }
        acquire()
        defer { release() }
        var chunk = levelOne[top].load(ordering: .relaxed)
        if chunk == 0 {
            let bytes = SegmentRegistry.chunkEntries * MemoryLayout<UInt>.stride
            let region = try VirtualMemory.reserve(byteCount: bytes, committed: true)
            chunk = UInt(bitPattern: region.base)
            levelOne[top].store(chunk, ordering: .releasing)
        }
        let entries = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: chunk)!
        let index = Int((segmentBase &>> UInt(SegmentLayout.segmentShift))
            & UInt(SegmentRegistry.chunkEntries - 1))
        entries[index].store(UInt(heapID), ordering: .releasing)
    }

    /// Clears the entry of `segmentBase`; call before unmapping it.
    package func unpublish(segmentBase: UInt) {
        let top = Int(segmentBase &>> SegmentRegistry.chunkShift)
        guard top < SegmentRegistry.levelOneCount, let levelOne else { return }
        acquire()
        defer { release() }
        let chunk = levelOne[top].load(ordering: .relaxed)
        guard chunk != 0 else { return }
        let entries = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: chunk)!
        let index = Int((segmentBase &>> UInt(SegmentLayout.segmentShift))
            & UInt(SegmentRegistry.chunkEntries - 1))
        entries[index].store(0, ordering: .releasing)
        // After the clear, before the caller's unmap: ends every cached confirmation.
        SegmentRegistry.unmapEpoch(levelOne: levelOne)
            .pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    private func acquire() {
        var spins = 0
        while lock.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged == false {
            spins += 1
            if spins > 64 { offheap_yield() }
        }
    }

    private func release() { lock.store(0, ordering: .releasing) }
}
