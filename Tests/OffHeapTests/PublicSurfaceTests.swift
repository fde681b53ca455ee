import OffHeap
import Testing

/// What a user of `import OffHeap` relies on from the standard library keeps its meaning:
/// the module declares no type that shadows one (it once had a `Clock` enum, and
/// `some Clock<Duration>` stopped compiling in user code). This file does not compile if
/// such a type comes back.
@Suite("Public surface")
struct PublicSurfaceTests {
    private func elapsed(_ clock: some Clock<Duration>, _ body: () -> Void) -> Duration {
        let start = clock.now
        body()
        return start.duration(to: clock.now)
    }

    @Test func standardLibraryClockIsNotShadowed() {
        var ran = false
        let duration = elapsed(ContinuousClock()) { ran = true }
        #expect(ran)
        #expect(duration >= .zero)
    }
}
