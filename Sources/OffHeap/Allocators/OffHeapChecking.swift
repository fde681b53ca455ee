/// How much an allocator validates the pointers it is given back, shared by every
/// configuration that has a choice (``FreeList/Configuration/checking``,
/// ``ShardedFreeList/Configuration/checking``, ``SizeClassHeap/Configuration/checking``).
///
/// Prefixed rather than a bare `Checking` so that `import OffHeap` never shadows a name of
/// the user's or the standard library's.
///
/// ```swift
/// var configuration = FreeList.Configuration(slotSize: 64, capacity: 1024)
/// configuration.checking = .unchecked   // measured hot paths only
/// let pool = try FreeList(configuration: configuration)
/// ```
public enum OffHeapChecking: Sendable, Equatable {
    /// Range, alignment and interior checks plus per-block state, so a double free is a
    /// typed ``OffHeapError/doubleFree`` and leaves the allocator untouched.
    case checked
    /// Range, alignment and interior checks only. A double free corrupts the allocator (the
    /// block is handed out twice); use for measured hot paths only.
    case unchecked
}
