/// An intrusive doubly linked list of segments, threaded through their headers' `prev` and
/// `next`: ``HeapCore``'s small segments in use and its cache of empty ones. A segment is on
/// at most one list at a time (its header has one pair of links).
///
/// Invariant: guarded by `HeapCore.lock`; `head` has no `prev`, `tail` no `next`, and both
/// are nil together.
///
/// ```swift
/// var cached = SegmentList()
/// cached.pushFront(segment)        // most recent first
/// if let oldest = cached.tail { cached.remove(oldest) }
/// ```
internal struct SegmentList {
    private(set) var head: UnsafeMutableRawPointer?
    private(set) var tail: UnsafeMutableRawPointer?

    mutating func pushFront(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        header.pointee.prev = nil
        header.pointee.next = head
        if let head { SegmentLayout.header(head).pointee.prev = segment } else { tail = segment }
        head = segment
    }

    mutating func append(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        header.pointee.next = nil
        header.pointee.prev = tail
        if let tail { SegmentLayout.header(tail).pointee.next = segment } else { head = segment }
        tail = segment
    }

    /// Unlinks `segment`, which must be on this list.
    mutating func remove(_ segment: UnsafeMutableRawPointer) {
        let header = SegmentLayout.header(segment)
        assert(header.pointee.prev != nil || head == segment, "removed a segment not on the list")
        if let prev = header.pointee.prev {
            SegmentLayout.header(prev).pointee.next = header.pointee.next
        } else {
            head = header.pointee.next
        }
        if let next = header.pointee.next {
            SegmentLayout.header(next).pointee.prev = header.pointee.prev
        } else {
            tail = header.pointee.prev
        }
        header.pointee.next = nil
        header.pointee.prev = nil
    }

    /// Empties the list without touching the segments (they are about to be unmapped).
    mutating func removeAll() {
        head = nil
        tail = nil
    }
}
