// swift-tools-version: 6.1
//
// Benchmarks for swift-offheap (ordo-one/package-benchmark).
//
//   cd Benchmarks && swift package benchmark --target FreeListBenchmarks --format markdown
//
// One executable target per area under Benchmarks/<Area>/. To add an area, append its name
// to `areas` below and create Benchmarks/<Area>/<Area>.swift.
import PackageDescription

let areas = [
    "FreeListBenchmarks",
    "ShardedBenchmarks",
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
    targets: areas.map { area in
        .executableTarget(
            name: area,
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "OffHeap", package: "swift-offheap"),
            ],
            path: "Benchmarks/\(area)",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    }
)
