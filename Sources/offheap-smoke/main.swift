import OffHeap

// Replaced by the aarch64 smoke program (FreeList/Arena/SlabPool from 4 threads).
let region = try VirtualMemory.reserve(byteCount: 1 << 16, committed: true)
region.base.storeBytes(of: 42, as: Int.self)
print("smoke: page size \(VirtualMemory.pageSize), wrote \(region.base.load(as: Int.self))")
try VirtualMemory.release(region)
