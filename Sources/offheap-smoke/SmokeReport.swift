import OffHeap
import Synchronization

/// The tallies every smoke thread adds to, and the summary the program prints.
///
/// Invariant: the counters are only ever changed by atomic read-modify-writes, so any thread
/// may add to them without a lock; they are read once, after every worker has been joined
/// (the join orders all of the workers' updates before the read).
final class SmokeReport: Sendable {
    /// Allocations, frees, resets and verified reads.
    let operations = Atomic<Int>(0)
    /// Slots whose contents differed from what their owner wrote.
    let corruption = Atomic<Int>(0)
    /// Unexpected errors, expected errors that did not happen, failed checks.
    let errors = Atomic<Int>(0)

    init() {}

    func count(_ operations: Int = 1) {
        self.operations.wrappingAdd(operations, ordering: .relaxed)
    }

    func corrupted(_ check: String, slot: Int) {
        corruption.wrappingAdd(1, ordering: .relaxed)
        print("offheap-smoke: CORRUPTION in \(check): slot \(slot) does not hold its pattern")
    }

    func failed(_ check: String, _ error: OffHeapError) {
        errors.wrappingAdd(1, ordering: .relaxed)
        print("offheap-smoke: FAILED \(check): unexpected error: \(error.description)")
    }

    func failed(_ check: String, _ reason: String) {
        errors.wrappingAdd(1, ordering: .relaxed)
        print("offheap-smoke: FAILED \(check): \(reason)")
    }

    /// Records a check that must throw an error of kind `expected`.
    func expect(
        _ check: String, _ expected: OffHeapError.Kind,
        _ body: () throws(OffHeapError) -> Void
    ) {
        count()
        do throws(OffHeapError) {
            try body()
            failed(check, "no error (expected a typed error)")
        } catch {
            if error.kind != expected {
                failed(check, "wrong error: \(error.description)")
            }
        }
    }

    /// Records a check that must throw a pointer-rejection error (foreign, interior or
    /// misaligned: allocators may classify a stray pointer either way).
    func expectRejectedPointer(_ check: String, _ body: () throws(OffHeapError) -> Void) {
        count()
        do throws(OffHeapError) {
            try body()
            failed(check, "stray pointer accepted")
        } catch {
            switch error.kind {
            case .foreignPointer, .interiorPointer, .misalignedPointer: break
            default: failed(check, "wrong error: \(error.description)")
            }
        }
    }

    var operationCount: Int { operations.load(ordering: .relaxed) }
    var corruptionCount: Int { corruption.load(ordering: .relaxed) }
    var errorCount: Int { errors.load(ordering: .relaxed) }
    /// Whether nothing went wrong so far.
    var ok: Bool { corruptionCount == 0 && errorCount == 0 }

    /// The one-line JSON document the matrix parses (written by hand: no Codable here).
    func json(arch: String, threads: Int) -> String {
        let operations = operationCount, corruption = corruptionCount, errors = errorCount
        return "{\"program\":\"offheap-smoke\",\"arch\":\"\(arch)\",\"threads\":\(threads),"
            + "\"operations\":\(operations),\"corruption\":\(corruption),"
            + "\"errors\":\(errors),\"ok\":\(ok)}"
    }
}
