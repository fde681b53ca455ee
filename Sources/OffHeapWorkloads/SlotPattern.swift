import OffHeap

/// The pattern every workload writes into a slot so that *other* threads can verify it.
///
/// Layout (32 bytes, or fewer fields when the slot is smaller): slot id, owner thread,
/// generation, and a checksum over the three. A reader that finds a slot whose checksum
/// does not match, or whose id/owner/generation differ from what was published, has found
/// corruption: the allocator handed the same slot to two owners, or freed it early.
///
/// ```swift
/// SlotPattern(slot: 12, owner: 3, generation: 1).write(to: pointer, byteCount: 64)
/// assert(SlotPattern.read(from: pointer, byteCount: 64) == SlotPattern(slot: 12, owner: 3, generation: 1))
/// ```
@frozen
public struct SlotPattern: Equatable, Sendable {
    public var slot: UInt64
    public var owner: UInt64
    public var generation: UInt64

    @inlinable
    public init(slot: UInt64, owner: UInt64, generation: UInt64) {
        self.slot = slot
        self.owner = owner
        self.generation = generation
    }

    /// A checksum that changes with every field (a 64-bit mix, not cryptographic).
    @inlinable
    public var checksum: UInt64 {
        var h = slot &* 0x9E37_79B9_7F4A_7C15
        h ^= (owner &+ 0x632B_E59B_D9B4_E019) &* 0xBF58_476D_1CE4_E5B9
        h ^= (generation &+ 0x94D0_49BB_1331_11EB) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    /// Smallest slot that holds the whole pattern.
    public static let byteCount = 32

    /// Writes the pattern; slots of at least 8 bytes hold a folded form.
    ///
    /// Always inlined (as is ``matches(_:byteCount:)``): the workloads' per-operation cost
    /// must not depend on whether the optimiser still had inlining budget left after the
    /// allocator's own code (it kept these out of line only for allocators whose fast path
    /// it inlined, charging them two extra calls per operation).
    @inlinable @inline(__always)
    public func write(to pointer: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= SlotPattern.byteCount {
            pointer.storeBytes(of: slot, toByteOffset: 0, as: UInt64.self)
            pointer.storeBytes(of: owner, toByteOffset: 8, as: UInt64.self)
            pointer.storeBytes(of: generation, toByteOffset: 16, as: UInt64.self)
            pointer.storeBytes(of: checksum, toByteOffset: 24, as: UInt64.self)
        } else {
            pointer.storeBytes(of: checksum, as: UInt64.self)
        }
    }

    /// Whether the slot at `pointer` holds exactly this pattern.
    @inlinable @inline(__always)
    public func matches(_ pointer: UnsafeRawPointer, byteCount: Int) -> Bool {
        if byteCount >= SlotPattern.byteCount {
            return pointer.load(fromByteOffset: 0, as: UInt64.self) == slot
                && pointer.load(fromByteOffset: 8, as: UInt64.self) == owner
                && pointer.load(fromByteOffset: 16, as: UInt64.self) == generation
                && pointer.load(fromByteOffset: 24, as: UInt64.self) == checksum
        }
        return pointer.load(as: UInt64.self) == checksum
    }

    /// Reads a full pattern back, or `nil` when its checksum does not match its fields.
    @inlinable
    public static func read(from pointer: UnsafeRawPointer, byteCount: Int) -> SlotPattern? {
        guard byteCount >= SlotPattern.byteCount else { return nil }
        let pattern = SlotPattern(
            slot: pointer.load(fromByteOffset: 0, as: UInt64.self),
            owner: pointer.load(fromByteOffset: 8, as: UInt64.self),
            generation: pointer.load(fromByteOffset: 16, as: UInt64.self))
        return pointer.load(fromByteOffset: 24, as: UInt64.self) == pattern.checksum
            ? pattern : nil
    }
}
