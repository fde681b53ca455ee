import COffHeapShims
import OffHeap
import Synchronization

/// Which worker lane the calling thread runs, kept in the shim's `scratch` thread-local slot
/// (lane + 1; nil on threads that are no worker), so code that runs on whichever thread
/// happens to be there — Hyaline reclamation — can tell a cross-thread free.
@usableFromInline
internal enum StressLane {
    static func mark(_ lane: Int) {
        ThreadLocalSlot.scratch.value = UnsafeMutableRawPointer(bitPattern: UInt(lane + 1))
    }

    static func unmark() { ThreadLocalSlot.scratch.value = nil }

    /// The calling thread's lane, or nil (the supervising thread, a controller thread).
    static var current: UInt64? {
        guard let marker = ThreadLocalSlot.scratch.value else { return nil }
        return UInt64(UInt(bitPattern: marker) - 1)
    }
}
