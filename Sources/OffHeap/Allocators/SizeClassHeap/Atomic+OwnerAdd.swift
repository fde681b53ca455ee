import Synchronization

extension Atomic where Value == UInt64 {
    /// Single-writer increment: a relaxed load and store, no read-modify-write.
    @inlinable @inline(__always)
    func ownerAdd(_ delta: UInt64) {
        store(load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }
}
