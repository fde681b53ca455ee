/// The per-thread table behind `ThreadLocalSlot.sizeClassHeap`: heap id → `ThreadHeap`,
/// 64 entries, direct-mapped by `id & 63` (ids are never reused, so a stale entry of a
/// destroyed heap never matches; it is evicted when the table fills).
///
/// Choice: a table by heap id rather than one global default heap, so every
/// `SizeClassHeap` instance is a full heap with its own pages and statistics, and a thread
/// reaches its share of any heap with one TLS load, one indexed load and one compare.
///
/// Invariant: `heap` is non-nil exactly when `heapID != 0` (entries start as `(0, nil)`,
/// attach writes `(id, record)`, and the only other writes move whole entries), so a
/// lookup whose id matches may take `heap` without a nil test.
@usableFromInline
internal struct ThreadRecordEntry {
    @usableFromInline var heapID: UInt64
    @usableFromInline var heap: ThreadHeapPointer?
}
