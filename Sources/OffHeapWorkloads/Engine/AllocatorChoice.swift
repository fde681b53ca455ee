import OffHeap

/// The allocators a run can target by name (`--allocator`).
///
/// `heap` is ``SizeClassHeap`` in its default checked mode (double frees are typed errors);
/// `heapUnchecked` (`heap-unchecked`) is the same heap with `checking: .unchecked`, the mode that
/// compares like for like with `malloc`/mimalloc, which do not detect double frees.
///
/// ```swift
/// let choices = try AllocatorChoice.parseList("heap,heap-unchecked")  // [.heap, .heapUnchecked]
/// ```
@frozen
public enum AllocatorChoice: Equatable, Sendable, CaseIterable {
    case freelist, sharded, arena, slabpool, heap, heapUnchecked, system

    public var name: String {
        switch self {
        case .freelist: return "freelist"
        case .sharded: return "sharded"
        case .arena: return "arena"
        case .slabpool: return "slabpool"
        case .heap: return "heap"
        case .heapUnchecked: return "heap-unchecked"
        case .system: return "system"
        }
    }

    public init?(name: String) {
        for choice in AllocatorChoice.allCases where choice.name == name {
            self = choice
            return
        }
        return nil
    }

    /// Parses `all` or a comma-separated list of allocator names.
    public static func parseList(_ text: String) throws(OffHeapError) -> [AllocatorChoice] {
        try RunPlan.choices(text, .allocator)
    }

    /// Whether this build contains the allocator (the others land on main in parallel).
    public var isAvailable: Bool {
        switch self {
        case .system, .arena, .slabpool, .freelist, .sharded, .heap, .heapUnchecked: return true
        }
    }
}
