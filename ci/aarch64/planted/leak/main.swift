// Planted defect for the aarch64 valgrind cell's self-test (ci/selftest-aarch64-checkers.sh):
// a malloc whose only pointer is dropped. memcheck must report it as definitely lost (exit
// 99 with --errors-for-leak-kinds=definite). Built only by
// `ci/build-aarch64.sh --variant dynamic --planted leak`, never part of a product.
import COffHeapHostShims

/// Where the block's address goes for a moment, so the optimiser cannot drop the malloc.
nonisolated(unsafe) var plantedSink: UInt = 0

@inline(never)
func leakOneBlock() {
    guard let block = offheap_malloc(48) else { return }
    block.storeBytes(of: 0x5eed, as: UInt64.self)
    plantedSink = UInt(bitPattern: block)
}

@inline(never)
func forgetBlock() { plantedSink = 0 }  // the defect: the last pointer is gone, never freed

leakOneBlock()
forgetBlock()
print("planted-leak: leaked one 48-byte block")
offheap_exit(0)
