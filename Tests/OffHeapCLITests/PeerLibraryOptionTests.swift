import Testing
@testable import offheap

/// `--peer-library NAME=PATH` as the CLI parses it (the lookup itself: PeerLibraryTests).
@Suite("offheap CLI --peer-library")
struct PeerLibraryOptionTests {
    @Test func cliAcceptsPeerLibraryAndRejectsMalformedOnes() {
        #expect(OffHeapCommand.parseStatus(["bench", "--peers", "jemalloc", "--peer-library", "jemalloc=/x/libjemalloc.so.2", "--operations", "5"]) == 0)
        #expect(OffHeapCommand.parseStatus(["bench", "--peer-library", "jemalloc"]) == 2)
        #expect(OffHeapCommand.parseStatus(["bench", "--peer-library", "hoard=/x.so"]) == 2)
    }
}
