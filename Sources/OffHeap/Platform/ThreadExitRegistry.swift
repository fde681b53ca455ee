import COffHeapShims
import Synchronization

/// The one pthread key whose destructor runs every subsystem's thread-exit processing.
///
/// A subsystem with per-thread state keeps a pointer to it in its ``ThreadLocalSlot`` and,
/// when it first sets that slot on a thread, *arms* the registry with its teardown. When the
/// thread exits, the key's destructor calls, in ``Participant`` order, each teardown whose
/// slot is still set, with the slot's value; a teardown hands its state back and clears its
/// slot. The whole run is an internal section (`offheap_internal_enter`), so allocations made
/// on the way (Swift arrays, the runtime) go to the system allocator when liboffheap-malloc
/// is the process allocator, never back into a heap that is being torn down.
///
/// Invariant: a teardown is stored (release) before the first `arm` that names it returns,
/// and the destructor loads it (acquire) on the same thread that armed, so it is never seen
/// unset for a slot that is set. All stores of one participant store the same function.
///
/// ```swift
/// ThreadLocalSlot.hyaline.value = table
/// guard ThreadExitRegistry.shared.arm(.hyaline, teardown: { raw in release(raw) }) else { … }
/// ```
@usableFromInline
internal final class ThreadExitRegistry: @unchecked Sendable {
    // @unchecked Sendable: immutable after init but for the `Atomic` teardown words.

    /// A teardown: runs on the exiting thread with its participant's slot value.
    typealias Teardown = @convention(c) (UnsafeMutableRawPointer) -> Void

    /// Subsystems with per-thread state, in teardown order: reclamation first (it only
    /// gives slots and records back), then the caches (which flush into their pools), then
    /// the heap (whose pages the others' memory never lives in).
    enum Participant: Int {
        case hyaline = 0, shardedFreeList, sizeClassHeap

        static let count = 3

        var slot: ThreadLocalSlot {
            switch self {
            case .hyaline: return .hyaline
            case .shardedFreeList: return .shardedFreeListCaches
            case .sizeClassHeap: return .sizeClassHeap
            }
        }
    }

    static let shared = ThreadExitRegistry()

    /// The key, valid when ``error`` is 0.
    let key: UInt32
    /// `pthread_key_create`'s error (0: none); every ``arm(_:teardown:)`` then fails.
    let error: Int32
    private let hyalineTeardown = Atomic<UInt>(0)
    private let shardedTeardown = Atomic<UInt>(0)
    private let heapTeardown = Atomic<UInt>(0)

    private init() {
        var key: UInt32 = 0
        error = offheap_tls_key_create(&key) { _ in ThreadExitRegistry.threadExited() }
        self.key = key
    }

    private func storeTeardown(_ bits: UInt, for participant: Participant) {
        switch participant {
        case .hyaline: hyalineTeardown.store(bits, ordering: .releasing)
        case .shardedFreeList: shardedTeardown.store(bits, ordering: .releasing)
        case .sizeClassHeap: heapTeardown.store(bits, ordering: .releasing)
        }
    }

    private func loadTeardown(_ participant: Participant) -> UInt {
        switch participant {
        case .hyaline: return hyalineTeardown.load(ordering: .acquiring)
        case .shardedFreeList: return shardedTeardown.load(ordering: .acquiring)
        case .sizeClassHeap: return heapTeardown.load(ordering: .acquiring)
        }
    }

    /// Makes the calling thread run `teardown` with `participant`'s slot value when it exits
    /// (if the slot is still set then). False when the key could not be created or set: the
    /// caller must not keep per-thread state that would leak.
    func arm(_ participant: Participant, teardown: Teardown) -> Bool {
        guard error == 0 else { return false }
        storeTeardown(UInt(bitPattern: unsafeBitCast(teardown, to: Int.self)), for: participant)
        // Any non-nil value makes the destructor run; the slots carry the state.
        return offheap_tls_key_set(key, UnsafeRawPointer(bitPattern: 1)) == 0
    }

    /// The key's destructor: runs on the exiting thread. If a teardown sets a slot again
    /// (it re-armed), the system calls the destructor again, up to its iteration limit.
    static func threadExited() {
        offheap_internal_enter()
        defer { offheap_internal_leave() }
        let registry = shared
        for index in 0..<Participant.count {
            guard let participant = Participant(rawValue: index),
                let value = participant.slot.value
            else { continue }
            let bits = registry.loadTeardown(participant)
            guard bits != 0 else { continue }
            let teardown = unsafeBitCast(Int(bitPattern: bits), to: Teardown.self)
            teardown(value)
        }
    }
}
