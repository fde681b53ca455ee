/// Every way an off-heap allocator can refuse a request.
///
/// All allocator APIs use typed throws (`throws(OffHeapError)`), so misuse is reported as a
/// value, never as a trap, and the allocator stays usable afterwards. The core is
/// Embedded-clean, so the error carries only plain values.
///
/// ```swift
/// do {
///     try pool.deallocate(pointer)
/// } catch .doubleFree {
///     // `pointer` was already free; the pool is unchanged.
/// } catch {
///     print("rejected: \(error)")
/// }
/// ```
///
/// ## The same mistake, the same error
///
/// Every allocator reports a given mistake with the same case (tested over all of them by
/// `SameMistakeSameErrorTests`):
///
/// | mistake | where | error |
/// |---|---|---|
/// | alignment not a power of two, or above the allocator's maximum | `allocate(byteCount:alignment:)`, `slotAlignment` | ``invalidAlignment(_:)`` |
/// | size 0 | `allocate(byteCount:)`, `slotSize`, `count` | ``zeroSize`` (``SizeClassHeap`` returns a distinct minimum block instead, like `malloc(0)`) |
/// | negative size | `allocate(byteCount:)`, `slotSize`, `count` | ``sizeTooLarge(requested:limit:)`` (as `size_t` it is huge, as for `malloc`) |
/// | size above the allocator's limit (a slot, a request, `capacity × slot stride`) | same | ``sizeTooLarge(requested:limit:)`` |
/// | a slot size of 1 … 7 bytes | `slotSize` | ``invalidConfiguration(reason:)`` |
/// | capacity, slab or table bounds out of range (0, negative, above the maximum) | configurations | ``invalidConfiguration(reason:)`` |
///
/// `limit` is the allocator's own bound: ``Arena/capacity``, ``SlabPool/maximumByteCount``,
/// ``SizeClassHeap/maximumByteCount``, 2⁴⁵ bytes per ``FreeList`` slot, 2⁴⁰ per
/// ``ShardedFreeList`` slot. A failed request changes nothing: the allocator stays usable.
public enum OffHeapError: Error, Equatable, Sendable {
    /// A configuration value is out of range; `reason` names it.
    case invalidConfiguration(reason: StaticString)
    /// A size of zero where the API does not define one.
    case zeroSize
    /// A request larger than the allocator can ever serve.
    case sizeTooLarge(requested: Int, limit: Int)
    /// An alignment that is not a power of two or exceeds what the allocator supports.
    case invalidAlignment(Int)
    /// Every unit of a fixed-capacity allocator is in use; freeing makes it usable again.
    /// `capacity` is in the allocator's configured unit: slots (``FreeList``,
    /// ``ShardedFreeList``), bytes (``Arena``), slabs (``SlabPool``).
    case capacityExhausted(capacity: Int)
    /// ``ShardedFreeList``: the calling thread's magazine and the shared list are empty, but
    /// `cached` slots (approximate, counted when the error was made) sit in other live
    /// threads' magazines; ``ShardedFreeList/flushCallingThreadCache()`` on those threads,
    /// or their exit, returns them.
    case slotsCachedByOtherThreads(cached: Int, capacity: Int)
    /// ``SlabPool``: every entry of the large-block table (`maximumLargeAllocations`) is live.
    case largeAllocationsExhausted(limit: Int)
    /// ``HyalineDomain``: every reader slot is leased (`maximumReaders`: threads that entered and
    /// still live, plus nested guards).
    case readerSlotsExhausted(maximumReaders: Int)
    /// ``HyalineDomain``: every retire record is in use (`recordCapacity`: retired nodes not
    /// yet reclaimed, batch padding, and free records held in threads' private lists).
    case retireRecordsExhausted(recordCapacity: Int)
    /// ``ShardedFreeList``: `limit` pools are alive in this process already.
    case tooManyLivePools(limit: Int)
    /// ``SizeClassHeap``: the calling thread already uses `limit` live heaps (frees still work).
    case tooManyHeapsOnThread(limit: Int)
    /// The kernel refused a mapping (`mmap`, `mprotect`, `madvise`); `errno` says why.
    case mappingFailed(errno: Int32)
    /// The pointer does not belong to this allocator.
    case foreignPointer
    /// The pointer lies inside an allocation but not at its start.
    case interiorPointer
    /// The pointer is not aligned as this allocator hands out pointers.
    case misalignedPointer
    /// The allocation is already free.
    case doubleFree
    /// The handle or pointer predates a `reset()` of its allocator.
    case useAfterReset
    /// `reset()` raced with another operation on the same allocator.
    case concurrentReset
    /// The domain or allocator was destroyed.
    case destroyed
    /// Checked mode found the allocator's own free list corrupted: it handed out a slot that
    /// is still allocated, with no `reset()` in between (a wild write into the allocator's
    /// metadata, or a bug in it). The slot was not handed out; the allocator is not to be
    /// trusted any more.
    case freeListCorrupted
    /// ``HyalineDomain/destroy()`` was called by a thread that is inside that domain (holds
    /// one of its guards, or runs one of its reclaimers): destroy waits for every reader to
    /// leave, so it would wait for itself forever. Nothing was changed.
    case destroyInsideDomain
    /// A thread could not be started (`pthread_create` failed with `errno`).
    case threadStartFailed(errno: Int32)
}

extension OffHeapError: CustomStringConvertible {
    /// A one-line message naming the case and its payload.
    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): return "invalid configuration: \(reason.description)"
        case .zeroSize: return "zero-byte request"
        case .sizeTooLarge(let requested, let limit):
            return "request of \(requested) bytes exceeds the limit of \(limit) bytes"
        case .invalidAlignment(let alignment): return "invalid alignment \(alignment)"
        case .capacityExhausted(let capacity):
            return "allocator exhausted (capacity \(capacity))"
        case .slotsCachedByOtherThreads(let cached, let capacity):
            return "no free slot for this thread: \(cached) of \(capacity) cached by other threads"
        case .largeAllocationsExhausted(let limit):
            return "large-block table full (\(limit) live large blocks)"
        case .readerSlotsExhausted(let maximumReaders):
            return "no free reader slot (maximumReaders \(maximumReaders))"
        case .retireRecordsExhausted(let recordCapacity):
            return "no free retire record (recordCapacity \(recordCapacity))"
        case .tooManyLivePools(let limit): return "more than \(limit) live pools"
        case .tooManyHeapsOnThread(let limit): return "more than \(limit) live heaps on one thread"
        case .mappingFailed(let errno): return "mapping failed (errno \(errno))"
        case .foreignPointer: return "pointer not owned by this allocator"
        case .interiorPointer: return "interior pointer"
        case .misalignedPointer: return "misaligned pointer"
        case .doubleFree: return "double free"
        case .useAfterReset: return "use after reset"
        case .concurrentReset: return "reset raced with another operation"
        case .destroyed: return "allocator or domain destroyed"
        case .freeListCorrupted: return "free list corrupted (it listed an allocated slot)"
        case .destroyInsideDomain: return "destroy() called from inside the domain"
        case .threadStartFailed(let errno): return "thread start failed (errno \(errno))"
        }
    }
}

extension OffHeapError {
    /// Whether two errors are the same case with equal payloads (`reason` strings compared
    /// by their text).
    public static func == (lhs: OffHeapError, rhs: OffHeapError) -> Bool {
        switch (lhs, rhs) {
        case (.invalidConfiguration(let a), .invalidConfiguration(let b)):
            // Byte-wise: `String ==` would pull Unicode normalisation tables into the
            // Embedded aarch64 link.
            return a.withUTF8Buffer { x in b.withUTF8Buffer { y in x.elementsEqual(y) } }
        case (.zeroSize, .zeroSize), (.foreignPointer, .foreignPointer),
            (.interiorPointer, .interiorPointer), (.misalignedPointer, .misalignedPointer),
            (.doubleFree, .doubleFree), (.useAfterReset, .useAfterReset),
            (.concurrentReset, .concurrentReset), (.destroyed, .destroyed),
            (.destroyInsideDomain, .destroyInsideDomain),
            (.freeListCorrupted, .freeListCorrupted):
            return true
        case (.sizeTooLarge(let a, let b), .sizeTooLarge(let c, let d)): return a == c && b == d
        case (.invalidAlignment(let a), .invalidAlignment(let b)): return a == b
        case (.mappingFailed(let a), .mappingFailed(let b)): return a == b
        case (.threadStartFailed(let a), .threadStartFailed(let b)): return a == b
        case (.capacityExhausted(let a), .capacityExhausted(let b)): return a == b
        case (.slotsCachedByOtherThreads(let a, let b), .slotsCachedByOtherThreads(let c, let d)):
            return a == c && b == d
        case (.largeAllocationsExhausted(let a), .largeAllocationsExhausted(let b)): return a == b
        case (.readerSlotsExhausted(let a), .readerSlotsExhausted(let b)): return a == b
        case (.retireRecordsExhausted(let a), .retireRecordsExhausted(let b)): return a == b
        case (.tooManyLivePools(let a), .tooManyLivePools(let b)): return a == b
        case (.tooManyHeapsOnThread(let a), .tooManyHeapsOnThread(let b)): return a == b
        default: return false
        }
    }

    /// The case without its payload, for tests and counters: `.sizeTooLarge(1, 2)` and
    /// `.sizeTooLarge(3, 4)` are the same kind.
    public var kind: Kind {
        switch self {
        case .invalidConfiguration: return .invalidConfiguration
        case .zeroSize: return .zeroSize
        case .sizeTooLarge: return .sizeTooLarge
        case .invalidAlignment: return .invalidAlignment
        case .capacityExhausted: return .capacityExhausted
        case .slotsCachedByOtherThreads: return .slotsCachedByOtherThreads
        case .largeAllocationsExhausted: return .largeAllocationsExhausted
        case .readerSlotsExhausted: return .readerSlotsExhausted
        case .retireRecordsExhausted: return .retireRecordsExhausted
        case .tooManyLivePools: return .tooManyLivePools
        case .tooManyHeapsOnThread: return .tooManyHeapsOnThread
        case .mappingFailed: return .mappingFailed
        case .foreignPointer: return .foreignPointer
        case .interiorPointer: return .interiorPointer
        case .misalignedPointer: return .misalignedPointer
        case .doubleFree: return .doubleFree
        case .useAfterReset: return .useAfterReset
        case .concurrentReset: return .concurrentReset
        case .destroyed: return .destroyed
        case .freeListCorrupted: return .freeListCorrupted
        case .destroyInsideDomain: return .destroyInsideDomain
        case .threadStartFailed: return .threadStartFailed
        }
    }

    /// Whether this is a resource limit that freeing (or leaving, or a thread's exit) can
    /// lift, as opposed to bad input or a failure: the seven `…Exhausted`/`tooMany…` cases.
    /// Workloads count these as back-pressure, not as errors.
    public var isExhaustion: Bool { kind.isExhaustion }

    /// Payload-free cases of ``OffHeapError``.
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// The ``OffHeapError`` case of the same name, without its payload.
        case invalidConfiguration, zeroSize, sizeTooLarge, invalidAlignment
        /// The ``OffHeapError`` case of the same name, without its payload.
        case capacityExhausted, slotsCachedByOtherThreads, largeAllocationsExhausted
        /// The ``OffHeapError`` case of the same name, without its payload.
        case readerSlotsExhausted, retireRecordsExhausted, tooManyLivePools, tooManyHeapsOnThread
        /// The ``OffHeapError`` case of the same name, without its payload.
        case mappingFailed, foreignPointer, interiorPointer, misalignedPointer, doubleFree
        /// The ``OffHeapError`` case of the same name, without its payload.
        case useAfterReset, concurrentReset, destroyed, threadStartFailed
        /// The ``OffHeapError`` case of the same name, without its payload.
        case destroyInsideDomain, freeListCorrupted
    }
}

extension OffHeapError.Kind {
    /// See ``OffHeapError/isExhaustion``.
    public var isExhaustion: Bool {
        switch self {
        case .capacityExhausted, .slotsCachedByOtherThreads, .largeAllocationsExhausted,
            .readerSlotsExhausted, .retireRecordsExhausted, .tooManyLivePools,
            .tooManyHeapsOnThread:
            return true
        default: return false
        }
    }
}
