// swift-tools-version: 6.1
//
// Benchmarks for swift-offheap (ordo-one/package-benchmark).
//
//   cd Benchmarks && swift package benchmark --target FreeListBenchmarks --format markdown
//
// One executable target per area under Benchmarks/<Area>/. To add an area, append it to
// `areas` below (with the swift-offheap products it imports) and create
// Benchmarks/<Area>/<Area>.swift defining `let benchmarks: @Sendable () -> Void`.
import PackageDescription

struct Area {
    var name: String
    var products: [String] = ["OffHeap"]
}

let areas: [Area] = [
    Area(name: "FreeListBenchmarks"),
    Area(name: "ShardedBenchmarks"),
    Area(name: "HyalineBenchmarks"),
    Area(name: "HeapBenchmarks"),
    Area(name: "ArenaBenchmarks"),
]

let package = Package(
    name: "swift-offheap-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The identity of a path dependency is its folder name, which differs between
        // worktrees; `name:` pins it.
        .package(name: "swift-offheap", path: ".."),
        .package(
            url: "https://github.com/ordo-one/benchmark", from: "1.38.1",
            traits: ["MallocInterposer"]),
    ],
    targets: [
        // Peers (glibc, jemalloc, mimalloc, tcmalloc, an inline C LIFO) measured in the same
        // run as ours: see Sources/BenchmarkSupport/PeerAllocator.swift.
        .target(name: "BenchmarkPeersC", path: "Sources/BenchmarkPeersC"),
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                "BenchmarkPeersC", .product(name: "Benchmark", package: "benchmark"),
                .product(name: "OffHeap", package: "swift-offheap"),
            ],
            path: "Sources/BenchmarkSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ] + areas.map { area in
        .executableTarget(
            name: area.name,
            dependencies: ["BenchmarkSupport", .product(name: "Benchmark", package: "benchmark")]
                + area.products.map { .product(name: $0, package: "swift-offheap") },
            path: "Benchmarks/\(area.name)",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    } + [
        // Not a benchmark: instructions per hot-path pair under callgrind
        // (ci/hot-path-counts.sh), so a change can state that the hot paths did not move.
        .executableTarget(
            name: "HotPathPairs",
            dependencies: [.product(name: "OffHeap", package: "swift-offheap")],
            path: "HotPathPairs",
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
