import COffHeapHostShims
import OffHeap

/// A deliberate defect the smoke program can inject into itself (environment variable
/// `OFFHEAP_SMOKE_FAULT`), so CI can prove that each detector really fails the run
/// (`ci/smoke-self-test.sh`). Unset means no fault.
///
/// ```sh
/// OFFHEAP_SMOKE_FAULT=corrupt-slot .build/debug/offheap-smoke   # must exit 1
/// ```
enum SmokeFault: Equatable {
    case none
    /// Overwrite one published FreeList slot before its neighbour verifies it, as if the
    /// allocator had handed the slot to a second owner.
    case corruptSlot
    /// Wrap the FreeList so that a double free is silently accepted.
    case swallowDoubleFree
    /// Lose one update of the 128-bit CAS counter.
    case loseWordPairUpdate

    static let current: SmokeFault = {
        guard let raw = offheap_getenv("OFFHEAP_SMOKE_FAULT") else { return .none }
        switch String(cString: raw) {
        case "", "none": return .none
        case "corrupt-slot": return .corruptSlot
        case "swallow-double-free": return .swallowDoubleFree
        case "lose-wordpair-update": return .loseWordPairUpdate
        default:
            print("offheap-smoke: unknown OFFHEAP_SMOKE_FAULT (use corrupt-slot, "
                + "swallow-double-free or lose-wordpair-update)")
            offheap_exit(2)
            return .none
        }
    }()
}

/// A fixed-size allocator that forwards to `base` but hides double frees
/// (``SmokeFault/swallowDoubleFree``): a broken allocator the smoke checks must catch.
final class DoubleFreeSwallowingAllocator<Base: FixedSizeAllocator>: FixedSizeAllocator {
    let base: Base
    init(_ base: Base) { self.base = base }
    var slotSize: Int { base.slotSize }
    var slotAlignment: Int { base.slotAlignment }
    var capacity: Int { base.capacity }
    func contains(_ pointer: UnsafeRawPointer) -> Bool { base.contains(pointer) }
    func allocate() throws(OffHeapError) -> UnsafeMutableRawPointer { try base.allocate() }
    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(OffHeapError) {
        do throws(OffHeapError) {
            try base.deallocate(pointer)
        } catch {
            if error.kind != .doubleFree { throw error }
        }
    }
}
