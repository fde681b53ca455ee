// Planted defect for the aarch64 ASan cell's self-test (ci/selftest-aarch64-checkers.sh):
// a write one byte past the end of a 16-byte malloc block. AddressSanitizer must report a
// heap-buffer-overflow (non-zero exit). Built only by
// `ci/build-aarch64.sh --variant asan --planted oob`, never part of a product.
import COffHeapHostShims

/// Keeps the written byte observable, so the optimiser cannot drop the store.
nonisolated(unsafe) var plantedSink: UInt8 = 0

@inline(never)
func writePastEnd(_ count: Int) {
    guard let block = offheap_malloc(16) else { return }
    let bytes = block.assumingMemoryBound(to: UInt8.self)
    bytes[count] = 0x42  // the defect: index `count` is one past the last byte
    plantedSink = bytes[count]
    offheap_free(block)
}

writePastEnd(Int(offheap_argument_count()) + 15)  // 16 with no arguments
print("planted-oob: wrote past the end (\(plantedSink))")
offheap_exit(0)
