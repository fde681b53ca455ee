import COffHeapShims

/// Allocator-aware checker instrumentation: tells valgrind memcheck and AddressSanitizer
/// which bytes of the allocators' own mappings are live blocks, free slots or metadata.
///
/// Off by default and free when off: every member is an always-inlined function whose body
/// is empty unless the package is built with `-Xswiftc -DOFFHEAP_INSTRUMENTED`, so an
/// ordinary build contains no call, load or branch for it. With the condition set, each member calls the C
/// shim (`offheap_instr_*`), which forwards to memcheck client requests when
/// `<valgrind/memcheck.h>` was available to shims.c (no-ops outside valgrind) and to ASan's
/// poisoning interface when shims.c is compiled with `-fsanitize=address`.
///
/// ```swift
/// // In an allocator (pool = any address unique to the instance, e.g. its region base):
/// Instrumentation.createPool(base)                      // init
/// Instrumentation.noAccess(slab, byteCount: bytes)      // memory committed for free slots
/// Instrumentation.allocated(slot, byteCount: 64, pool: base)   // handed out
/// Instrumentation.freed(slot, byteCount: 64, pool: base)       // returned
/// Instrumentation.destroyPool(base)                     // deinit: live blocks forgotten
/// ```
///
/// Call sites pass arguments that cannot trap (`Int(bitPattern:)`, no checked arithmetic) or
/// sit behind `if Instrumentation.isEnabled`: an argument is evaluated even when the body is
/// empty, and a trapping conversion would leave its check in the uninstrumented fast path.
///
/// The model (what the checkers are told, per allocator):
/// - A block handed to the caller is a memcheck mempool chunk of its allocator (so a block
///   never freed is a leak with its allocation stack, a second free is an invalid free) and
///   unpoisoned for ASan; a block given back is inaccessible to both.
/// - Free memory (free slots, uncarved blocks, retired-but-unreclaimed nodes) is NOACCESS /
///   poisoned; an allocator that keeps a link word inside free memory brackets its own reads
///   and writes of that word with ``withLinkWord(_:_:)`` (accessible for the access only).
/// - Destroying or resetting an allocator forgets all its chunks (no leak is reported for
///   blocks that die with their pool; that is the pools' documented contract).
/// - Unmapping needs no call: memcheck tracks munmap, and ASan's mmap/munmap interceptors
///   clear the shadow of the range.
/// - Only the first 64 MiB of a range are told to the checkers (shims.c): poisoning a freed
///   32 TiB huge block would write 4 TiB of shadow.
@usableFromInline
internal enum Instrumentation {
    /// Whether this build carries the instrumentation (`-DOFFHEAP_INSTRUMENTED`).
    @inlinable @inline(__always)
    internal static var isEnabled: Bool {
        #if OFFHEAP_INSTRUMENTED
            return true
        #else
            return false
        #endif
    }

    @inlinable @inline(__always)
    internal static func createPool(_ pool: UnsafeRawPointer) {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_pool_create(pool)
        #endif
    }

    @inlinable @inline(__always)
    internal static func destroyPool(_ pool: UnsafeRawPointer) {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_pool_destroy(pool)
        #endif
    }

    /// `block` (`byteCount` bytes) now belongs to the caller.
    @inlinable @inline(__always)
    internal static func allocated(
        _ block: UnsafeMutableRawPointer, byteCount: Int, pool: UnsafeRawPointer
    ) {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_pool_alloc(pool, block, byteCount)
        #endif
    }

    /// `block` was given back (after the allocator's checks accepted it).
    @inlinable @inline(__always)
    internal static func freed(
        _ block: UnsafeMutableRawPointer, byteCount: Int, pool: UnsafeRawPointer
    ) {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_pool_free(pool, block, byteCount)
        #endif
    }

    /// `block` (`byteCount` bytes) now belongs to the caller, without chunk bookkeeping: for
    /// allocators whose blocks are never freed one by one (Arena: dropping a block's last
    /// pointer is no leak, the reset frees it), so memcheck gets accessibility only
    /// (undefined contents) and ASan an unpoisoned range.
    @inlinable @inline(__always)
    internal static func handedOut(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        #if OFFHEAP_INSTRUMENTED
            if byteCount > 0 { offheap_instr_undefined(block, byteCount) }
        #endif
    }

    /// Free memory owned by the allocator: no user access allowed.
    @inlinable @inline(__always)
    internal static func noAccess(_ address: UnsafeRawPointer, byteCount: Int) {
        #if OFFHEAP_INSTRUMENTED
            if byteCount > 0 { offheap_instr_no_access(address, byteCount) }
        #endif
    }

    /// Accessible and defined again (e.g. before a range is handed out whole or unmapped).
    @inlinable @inline(__always)
    internal static func defined(_ address: UnsafeRawPointer, byteCount: Int) {
        #if OFFHEAP_INSTRUMENTED
            if byteCount > 0 { offheap_instr_defined(address, byteCount) }
        #endif
    }

    /// A reset made every block of `pool` free: memcheck forgets its chunks and marks the
    /// range NOACCESS; ASan is left as it is (see `FreeList.reset`).
    @inlinable @inline(__always)
    internal static func resetPool(_ pool: UnsafeMutableRawPointer, byteCount: Int) {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_pool_reset(pool, pool, byteCount)
        #endif
    }

    /// A free whose publication failed because a reset overlapped it: the block may already
    /// belong to a new owner, so ASan's poison is lifted again (memcheck's chunk is gone
    /// with the reset; a new owner's allocation re-registered it).
    @inlinable @inline(__always)
    internal static func readmit(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_asan_unpoison(block, byteCount)
        #endif
    }

    /// The allocator's own access to the link word at the start of a free block: the word is
    /// accessible (and defined) for `body` only.
    @inlinable @inline(__always)
    internal static func withLinkWord<R>(
        _ block: UnsafeRawPointer, _ body: () -> R
    ) -> R {
        #if OFFHEAP_INSTRUMENTED
            offheap_instr_defined(block, MemoryLayout<UInt>.size)
            let result = body()
            offheap_instr_no_access(block, MemoryLayout<UInt>.size)
            return result
        #else
            return body()
        #endif
    }
}

/// Whether this build of OffHeap tells memcheck and ASan about its blocks (built with
/// `-Xswiftc -DOFFHEAP_INSTRUMENTED`), and which checkers the shim was compiled for.
///
/// ```swift
/// print(OffHeapInstrumentation.summary)   // "off", or e.g. "on (memcheck)"
/// ```
package enum OffHeapInstrumentation {
    /// The Swift side calls the checkers' interfaces.
    package static var isEnabled: Bool { Instrumentation.isEnabled }
    /// memcheck client requests are compiled into the shim.
    package static var memcheck: Bool { offheap_instr_capabilities() & 1 != 0 }
    /// ASan poisoning is compiled into the shim (it was built with -fsanitize=address).
    package static var addressSanitizer: Bool { offheap_instr_capabilities() & 2 != 0 }
    /// "off", or "on (memcheck, asan)" with the compiled-in checkers.
    package static var summary: String {
        guard isEnabled else { return "off" }
        var parts: [String] = []
        if memcheck { parts.append("memcheck") }
        if addressSanitizer { parts.append("asan") }
        return "on (" + (parts.isEmpty ? "no checker" : parts.joined(separator: ", ")) + ")"
    }
}
