// The process allocator behind liboffheap-malloc.so: one SizeClassHeap for the whole process,
// reached through C entry points that the ABI layer (malloc.c, same folder) calls.
//
// ci/build-malloc.sh compiles this file INTO the OffHeap module, in Embedded Swift (no
// runtime, no metadata, no ARC-managed allocation on the allocate/free paths). It is not a
// SwiftPM target: a hosted binary that linked it would replace its own malloc.
//
// Ownership: the heap object is created once (malloc.c serialises the first call) and never
// released; its address is the opaque `heap` every entry point takes. Anything the Swift code
// allocates while it runs (the heap object, its arrays) comes from glibc: malloc.c routes a
// call made from inside an entry point on the same thread to `__libc_*` (the thread's
// `offheap_internal_depth`, its `inside`), so no entry point is ever re-entered on one thread.
//
// Fast paths: malloc and free call `offheap_malloc_allocate16` and `offheap_malloc_free`
// without raising the depth. Their fast paths (the heap's `allocateFast` and `deallocateFast`)
// make no call, so nothing can reach malloc from them; everything else goes through one
// out-of-line function that raises the depth itself (`internalSection`). The fast path
// then needs no stack frame.

import COffHeapShims

/// A new heap for the process, retained forever; `nil` if the heap could not be set up
/// (its registry could not be mapped, or the configuration was refused).
@_cdecl("offheap_malloc_heap_create")
func offheapMallocHeapCreate(
    _ checked: Int32, _ maxCachedSegments: Int, _ maxCachedSegmentBytes: Int,
    _ hugeCacheCount: Int, _ hugeCacheBytes: Int, _ purgeDelayMilliseconds: Int
) -> UnsafeMutableRawPointer? {
    var configuration = SizeClassHeap.Configuration()
    configuration.checking = checked != 0 ? .checked : .unchecked
    if maxCachedSegments >= 0 { configuration.maximumCachedSegments = maxCachedSegments }
    if maxCachedSegmentBytes >= 0 {
        configuration.maximumCachedSegmentBytes = maxCachedSegmentBytes
    }
    if hugeCacheCount >= 0 { configuration.hugeCacheCount = hugeCacheCount }
    if hugeCacheBytes >= 0 { configuration.hugeCacheBytes = hugeCacheBytes }
    if purgeDelayMilliseconds >= 0 {
        configuration.purgeDelay = UInt64(purgeDelayMilliseconds) &* 1_000_000
    }
    do throws(OffHeapError) {
        return Unmanaged.passRetained(try SizeClassHeap(configuration: configuration)).toOpaque()
    } catch {
        return nil
    }
}

@inline(__always)
private func withHeap<R>(_ raw: UnsafeMutableRawPointer, _ body: (SizeClassHeap) -> R) -> R {
    Unmanaged<SizeClassHeap>.fromOpaque(raw)._withUnsafeGuaranteedRef(body)
}

/// `body` with the thread's internal depth raised: an allocation made inside goes to glibc,
/// not back into the heap (malloc.c's `inside`).
@inline(__always)
private func internalSection<R>(_ body: () -> R) -> R {
    offheap_internal_enter()
    defer { offheap_internal_leave() }
    return body()
}

/// A block of at least `byteCount` bytes aligned to `alignment`, or `nil` (out of memory, or a
/// request the heap refuses: the caller reports ENOMEM / EINVAL).
@_cdecl("offheap_malloc_allocate")
func offheapMallocAllocate(
    _ heap: UnsafeMutableRawPointer, _ byteCount: Int, _ alignment: Int
) -> UnsafeMutableRawPointer? {
    withHeap(heap) { heap in
        do throws(OffHeapError) {
            return try heap.allocate(byteCount: byteCount, alignment: alignment)
        } catch {
            return nil
        }
    }
}

/// `offheap_malloc_allocate` at malloc's alignment (16), so the alignment checks fold away.
/// Called with the internal depth at 0 (malloc's fast path): the slow path raises it.
@_cdecl("offheap_malloc_allocate16")
func offheapMallocAllocate16(_ heap: UnsafeMutableRawPointer, _ byteCount: Int) -> UnsafeMutableRawPointer? {
    mallocAllocate16(heap, byteCount)
}

// The fast paths live in Swift functions of their own, which the C entry points jump to:
// clang's inline helpers (the TLS slot) are not inlined into the C-convention thunk itself.

@inline(never)
private func mallocAllocate16(_ raw: UnsafeMutableRawPointer, _ byteCount: Int) -> UnsafeMutableRawPointer? {
    // Not `withHeap`: its closure is not inlined, and this path must stay a leaf.
    @inline(__always) func fast(_ heap: SizeClassHeap) -> UnsafeMutableRawPointer? {
        heap.allocateFast(byteCount: byteCount, alignment: 16)
    }
    if let block = Unmanaged<SizeClassHeap>.fromOpaque(raw)._withUnsafeGuaranteedRef(fast) {
        return block
    }
    return mallocAllocate16Slow(raw, byteCount)
}

@inline(never)
private func mallocAllocate16Slow(_ raw: UnsafeMutableRawPointer, _ byteCount: Int) -> UnsafeMutableRawPointer? {
    internalSection {
        withHeap(raw) { heap in
            do throws(OffHeapError) {
                return try heap.allocateSlowPath(byteCount: byteCount, alignment: 16)
            } catch {
                return nil
            }
        }
    }
}

/// What a free or a size query found, for malloc.c (keep in step with its OFFHEAP_* codes).
private func code(of error: OffHeapError) -> Int32 {
    switch error.kind {
    case .foreignPointer: return 1
    case .doubleFree: return 2
    default: return 3
    }
}

/// 0: freed; 1: not this heap's (the caller hands it to the next allocator); 2: a double
/// free; 3: an invalid pointer (interior, misaligned, or corrupted metadata).
/// Called with the internal depth at 0 (free's fast path): the slow path raises it.
@_cdecl("offheap_malloc_free")
func offheapMallocFree(_ heap: UnsafeMutableRawPointer, _ pointer: UnsafeMutableRawPointer) -> Int32 {
    mallocFree(heap, pointer)
}

@inline(never)
private func mallocFree(_ raw: UnsafeMutableRawPointer, _ pointer: UnsafeMutableRawPointer) -> Int32 {
    @inline(__always) func fast(_ heap: SizeClassHeap) -> SizeClassHeap.FreeRoute {
        heap.deallocateFast(pointer)
    }
    let route = Unmanaged<SizeClassHeap>.fromOpaque(raw)._withUnsafeGuaranteedRef(fast)
    if case .freed = route { return 0 }
    return mallocFreeSlow(raw, pointer, route)
}

@inline(never)
private func mallocFreeSlow(
    _ raw: UnsafeMutableRawPointer, _ pointer: UnsafeMutableRawPointer, _ route: SizeClassHeap.FreeRoute
) -> Int32 {
    internalSection {
        withHeap(raw) { heap in
            do throws(OffHeapError) {
                try heap.finishDeallocate(pointer, route)
                return 0
            } catch {
                return code(of: error)
            }
        }
    }
}

/// The usable size of one of this heap's live blocks (≥ 0), or the negated code of
/// `offheap_malloc_free` (-1: not this heap's; -2: freed; -3: invalid).
@_cdecl("offheap_malloc_usable_size")
func offheapMallocUsableSize(_ heap: UnsafeMutableRawPointer, _ pointer: UnsafeMutableRawPointer) -> Int {
    withHeap(heap) { heap in
        do throws(OffHeapError) {
            return try heap.usableSize(of: pointer)
        } catch {
            return -Int(code(of: error))
        }
    }
}

/// The figures OFFHEAP_VERBOSE prints at exit, in this order: mapped segments, cached
/// segments, committed bytes, in-use bytes, huge blocks, remote frees, allocations, frees.
@_cdecl("offheap_malloc_statistics")
func offheapMallocStatistics(_ heap: UnsafeMutableRawPointer, _ out: UnsafeMutablePointer<UInt64>) {
    withHeap(heap) { heap in
        let statistics = heap.statistics
        var allocations: UInt64 = 0
        var frees: UInt64 = 0
        for sizeClass in statistics.sizeClasses {
            allocations &+= sizeClass.allocations
            frees &+= sizeClass.frees
        }
        out[0] = UInt64(statistics.mappedSegments)
        out[1] = UInt64(statistics.cachedSegments)
        out[2] = UInt64(statistics.committedBytes)
        out[3] = UInt64(statistics.inUseBytes)
        out[4] = UInt64(statistics.hugeBlocks)
        out[5] = statistics.remoteFrees
        out[6] = allocations
        out[7] = frees
    }
}

// fork(): every lock of the heap is held across the fork, so the child never inherits one
// held by a thread that does not exist there. Order: thread tables → directory → core (see
// ThreadTables.lockForFork); released in reverse.

@_cdecl("offheap_malloc_fork_prepare")
func offheapMallocForkPrepare(_ heap: UnsafeMutableRawPointer) {
    ThreadTables.shared.lockForFork()
    HeapDirectory.shared.lockForFork()
    withHeap(heap) { $0.core.lock.lock() }
}

@_cdecl("offheap_malloc_fork_parent")
func offheapMallocForkParent(_ heap: UnsafeMutableRawPointer) {
    withHeap(heap) { $0.core.lock.unlock() }
    HeapDirectory.shared.unlockAfterFork()
    ThreadTables.shared.unlockAfterFork()
}

/// The child: the locks are released, and the other threads' tables forgotten (their pages
/// stay owned by records nobody drains: blocks they held leak in the child, as in mimalloc).
@_cdecl("offheap_malloc_fork_child")
func offheapMallocForkChild(_ heap: UnsafeMutableRawPointer) {
    withHeap(heap) { $0.core.lock.unlock() }
    HeapDirectory.shared.unlockAfterFork()
    ThreadTables.shared.unlockInForkChild(keeping: ThreadRecord.slot.value)
}
