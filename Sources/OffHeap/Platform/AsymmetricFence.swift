import COffHeapShims
import Synchronization

/// A store-buffering (Dekker) fence split unevenly between a frequent and a rare side: the
/// frequent side pays a compiler barrier, the rare side a `membarrier(2)` that makes every
/// running thread of the process execute a full memory barrier (the technique of liburcu's
/// `urcu-memb` flavour and Folly's `asymmetricHeavyBarrier`).
///
/// Pairing: light side [store A; ``light()``; load B], heavy side [store B; ``heavy()``;
/// load A]. As with a sequentially consistent fence on both sides, at least one of them sees
/// the other's store: the membarrier puts a full barrier into the light thread's instruction
/// stream at some point; if it lands after the light side's store, that store is visible to
/// the heavy side's load; if before, the light side's load comes after the heavy side's store
/// and its barrier. Where the kernel does not offer expedited private membarrier (older
/// kernels, a seccomp filter, an emulator without it) ``isAvailable`` is false and callers
/// use sequentially consistent operations on both sides; the answer is fixed per process.
///
/// ```swift
/// if AsymmetricFence.isAvailable {
///     flag.store(1, ordering: .relaxed); AsymmetricFence.light(); _ = other.load(ordering: .relaxed)
/// }
/// ```
@usableFromInline
package enum AsymmetricFence {
    /// True when the heavy side is available (registers the process on first use).
    @usableFromInline
    package static var isAvailable: Bool { offheap_asymmetric_fence_prepare() != 0 }

    /// The frequent side: orders the compiler only.
    @inlinable @inline(__always)
    package static func light() { offheap_compiler_barrier() }

    /// The rare side: a full barrier on every running thread of the process, or, when
    /// ``isAvailable`` is false, a sequentially consistent fence on this one (which pairs only
    /// with sequentially consistent operations on the other side).
    package static func heavy() {
        guard isAvailable else { return atomicMemoryFence(ordering: .sequentiallyConsistent) }
        // Registered: the kernel documents no failure for this command.
        let result = offheap_asymmetric_fence_heavy()
        precondition(result == 0, "membarrier(PRIVATE_EXPEDITED) failed after registration")
    }
}
