// swift-tools-version: 6.2
//
// swift-offheap: lock-free, off-heap allocators with safe memory reclamation.
//
// Layers (each a folder, bottom to top):
//   COffHeapShims      platform shims (C): mmap family, pthread, TLS slot, clocks
//   COffHeapHostShims  process shims (C) for the engine and executables: argv, signals,
//                      files, malloc, exit (the library does not link them)
//   OffHeap            virtual memory → allocators → reclamation → lock-free structures
//                      (Embedded-clean: compiles for aarch64-none-none-elf)
//   OffHeapWorkloads   stress hammer and workloads (Embedded-clean)
//   OffHeapReports     hosted only: JSON documents via Codable
//   offheap            hosted only: the command line
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-offheap",
    products: [
        .library(name: "OffHeap", targets: ["OffHeap"]),
        .executable(name: "offheap", targets: ["offheap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "COffHeapShims"),
        .target(name: "COffHeapHostShims"),
        .target(
            name: "OffHeap",
            dependencies: ["COffHeapShims"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "OffHeapWorkloads",
            dependencies: ["OffHeap", "COffHeapShims", "COffHeapHostShims"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "OffHeapReports",
            dependencies: [
                "OffHeap", "OffHeapWorkloads", "COffHeapShims",
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "offheap",
            dependencies: [
                "OffHeap", "OffHeapWorkloads", "OffHeapReports", "COffHeapHostShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        // The aarch64 smoke program: built by ci/build-aarch64.sh in Embedded Swift and
        // run under qemu-aarch64-static; built here too so it never rots.
        .executableTarget(
            name: "offheap-smoke",
            dependencies: ["OffHeap", "OffHeapWorkloads", "COffHeapHostShims"],
            swiftSettings: strictSwift
        ),
        // The Embedded workload engine entry point for aarch64 (ci/build-aarch64.sh builds it
        // in Embedded Swift); same options as `offheap stress|bench`, JSON written by hand.
        .executableTarget(
            name: "offheap-engine",
            dependencies: ["OffHeap", "OffHeapWorkloads", "COffHeapHostShims"],
            swiftSettings: strictSwift
        ),
        // Seeded defects for the matrix's `defects` cell (ci/defects/): user programs that
        // misuse an allocator, one per argument, each caught by memcheck, ASan or TSan.
        .executableTarget(
            name: "offheap-defects",
            dependencies: ["OffHeap", "OffHeapWorkloads", "COffHeapHostShims"],
            swiftSettings: strictSwift
        ),
        // Op-sequence fuzzers with shadow models, one per allocator (ci/fuzz.sh builds them with
        // libFuzzer: -sanitize=fuzzer,address -DOFFHEAP_LIBFUZZER). Hosted only; a plain
        // build is a replayer of corpus files, so the harness never rots.
        .executableTarget(
            name: "offheap-fuzz",
            dependencies: ["OffHeap"],
            swiftSettings: strictSwift
        ),
        // Helpers shared by the test targets: pattern fillers, per-thread result rows,
        // concurrent conservation runs, reset races.
        .target(
            name: "OffHeapTestSupport",
            dependencies: ["OffHeap", "COffHeapShims"],
            path: "Tests/OffHeapTestSupport",
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "OffHeapTests",
            dependencies: [
                "OffHeap", "COffHeapShims", "COffHeapHostShims", "OffHeapWorkloads", "OffHeapReports",
                "OffHeapTestSupport",
            ],
            swiftSettings: strictSwift
        ),
        // XCTest twins of core tests for the valgrind cell (valgrind cannot run Swift Testing).
        .testTarget(
            name: "OffHeapXCTests",
            dependencies: ["OffHeap", "OffHeapTestSupport"],
            swiftSettings: strictSwift
        ),
    ]
)

// The command line's option-parsing tests (they link the `offheap` executable and so
// ArgumentParser). The matrix's checker builds (TSan, ASan, valgrind: ci/lib/cell.sh sets
// OFFHEAP_CHECKER_BUILD) leave them out: they test ArgumentParser's wiring, not memory or
// concurrency, and ArgumentParser alone is ~40 s of CPU per sanitizer build on 2 cores.
// `swift test` runs them; so does the matrix's debug-tests cell.
if Context.environment["OFFHEAP_CHECKER_BUILD"] == nil {
    package.targets.append(
        .testTarget(
            name: "OffHeapCLITests",
            dependencies: ["OffHeap", "OffHeapWorkloads", "OffHeapReports", "offheap"],
            swiftSettings: strictSwift
        )
    )
}
