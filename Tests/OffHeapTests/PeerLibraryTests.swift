import OffHeapReports
import Testing


/// Peer libraries are found by soname in the multiarch directory of the build's own
/// architecture (the native arm64 runner has no /usr/lib/x86_64-linux-gnu), can be named
/// with `--peer-library NAME=PATH`, and `--peers all` runs only the installed ones.
@Suite("Peer libraries")
struct PeerLibraryTests {
    /// A file system holding exactly `files`.
    static func libraries(_ files: Set<String>) -> PeerLibraries {
        PeerLibraries(fileExists: { files.contains($0) })
    }

    @Test func multiarchDirectoryOfThisArchitectureComesFirst() {
        #if arch(x86_64)
        #expect(PeerLibraries.multiarchTriplet == "x86_64-linux-gnu")
        #elseif arch(arm64)
        #expect(PeerLibraries.multiarchTriplet == "aarch64-linux-gnu")
        #endif
        #expect(PeerLibraries.defaultSearchDirectories.first == "/usr/lib/\(PeerLibraries.multiarchTriplet)")
    }

    @Test func findsEachPeerBySonameInTheFirstDirectoryThatHasIt() {
        let triplet = PeerLibraries.multiarchTriplet
        let libraries = Self.libraries([
            "/usr/lib/\(triplet)/libjemalloc.so.2",
            "/usr/lib/libmimalloc.so.2",
            "/usr/local/lib/libmimalloc.so.2",
        ])
        #expect(libraries.path(for: .jemalloc) == "/usr/lib/\(triplet)/libjemalloc.so.2")
        #expect(libraries.path(for: .mimalloc) == "/usr/local/lib/libmimalloc.so.2")
        #expect(libraries.path(for: .tcmalloc) == nil)
        #expect(libraries.path(for: .glibc) == nil)
    }

    @Test func neverLooksInAnotherArchitecturesDirectory() {
        let other = PeerLibraries.multiarchTriplet == "x86_64-linux-gnu" ? "aarch64-linux-gnu" : "x86_64-linux-gnu"
        let libraries = Self.libraries(["/usr/lib/\(other)/libjemalloc.so.2"])
        #expect(libraries.path(for: .jemalloc) == nil)
    }

    @Test func peerLibraryOverrideWinsAndIsValidated() throws {
        var libraries = Self.libraries(["/opt/je/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2"])
        try libraries.addOverride("jemalloc=/opt/je/libjemalloc.so.2")
        #expect(libraries.path(for: .jemalloc) == "/opt/je/libjemalloc.so.2")
        #expect(throws: PeerError.self) { try libraries.addOverride("jemalloc") }
        #expect(throws: PeerError.self) { try libraries.addOverride("=/x.so") }
        #expect(throws: PeerError.self) { try libraries.addOverride("hoard=/x.so") }
        #expect(throws: PeerError.self) { try libraries.addOverride("glibc=/x.so") }
        #expect(throws: PeerError.self) { try libraries.addOverride("tcmalloc=") }
        // An override to a missing file is not silently replaced by the default.
        try libraries.addOverride("jemalloc=/missing/libjemalloc.so.2")
        #expect(libraries.path(for: .jemalloc) == nil)
        #expect(throws: PeerError.self) { try libraries.resolve([.jemalloc], onlyInstalled: true) }
    }

    @Test func allRunsOnlyInstalledPeersButANamedMissingPeerIsAnError() throws {
        let triplet = PeerLibraries.multiarchTriplet
        let libraries = Self.libraries(["/usr/lib/\(triplet)/libmimalloc.so.2"])
        let all = try libraries.resolve(Peer.allCases, onlyInstalled: true)
        #expect(all.run.map(\.peer) == [.glibc, .mimalloc])
        #expect(all.run.map(\.library) == [nil, "/usr/lib/\(triplet)/libmimalloc.so.2"])
        #expect(all.skipped == [.jemalloc, .tcmalloc])
        #expect(throws: PeerError.self) { try libraries.resolve([.glibc, .tcmalloc], onlyInstalled: false) }
    }
}
