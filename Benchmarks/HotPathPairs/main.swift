// Instructions per hot-path pair, for callgrind (ci/hot-path-counts.sh): `HotPathPairs NAME N`
// runs N allocate + deallocate pairs (or enter + leave for Hyaline) on one thread. Run at two
// N and subtract the callgrind totals: what remains is the pair alone, without start-up.
//
//   HotPathPairs heap 100000
import Glibc
import OffHeap

let names = ["freelist", "freelist-unchecked", "sharded", "sharded-unchecked", "heap", "heap-unchecked", "hyaline"]
let arguments = CommandLine.arguments
guard arguments.count == 3, names.contains(arguments[1]), let pairs = Int(arguments[2]), pairs >= 0 else {
    print("usage: HotPathPairs \(names.joined(separator: "|")) PAIRS")
    exit(2)
}

/// The pair loop, not inlined into the caller, so every name runs the same kind of loop.
@inline(never)
func repeatPairs(_ count: Int, _ pair: () throws(OffHeapError) -> Void) throws(OffHeapError) {
    for _ in 0..<count { try pair() }
}

do throws(OffHeapError) {
    switch arguments[1] {
    case "freelist", "freelist-unchecked":
        let pool = try FreeList(
            configuration: .init(
                slotSize: 64, capacity: 1024,
                checking: arguments[1] == "freelist" ? .checked : .unchecked))
        try repeatPairs(pairs) { () throws(OffHeapError) in try pool.deallocate(try pool.allocate()) }
    case "sharded", "sharded-unchecked":
        let pool = try ShardedFreeList(
            configuration: .init(
                slotSize: 64, capacity: 1024,
                checking: arguments[1] == "sharded" ? .checked : .unchecked))
        try repeatPairs(pairs) { () throws(OffHeapError) in try pool.deallocate(try pool.allocate()) }
    case "heap", "heap-unchecked":
        let heap = try SizeClassHeap(
            configuration: .init(checking: arguments[1] == "heap" ? .checked : .unchecked))
        try repeatPairs(pairs) { () throws(OffHeapError) in
            try heap.deallocate(try heap.allocate(byteCount: 64))
        }
    default:
        let domain = try HyalineDomain(configuration: .init())
        try repeatPairs(pairs) { () throws(OffHeapError) in _ = try domain.enter() }
    }
} catch {
    print("HotPathPairs: \(error)")
    exit(1)
}
