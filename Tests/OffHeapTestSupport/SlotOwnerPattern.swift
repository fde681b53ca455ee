import COffHeapShims

// The slot pattern of the FreeList concurrency tests: who owns a slot, checkable by any thread.
//
// ```swift
// Pattern.write(slot, words: 8, index: 3, owner: 1, generation: 0)
// #expect(Pattern.validate(slot, words: 8, index: 3) == 1)
// ```

/// The per-slot pattern: slot index, owner thread, generation and a checksum, repeated
/// over the whole slot so another thread can verify every word.
public enum Pattern {
    public static func mix(_ index: UInt64, _ tag: UInt64) -> UInt64 {
        var h = (index &+ goldenGamma) &* 0xBF58_476D_1CE4_E5B9
        h ^= (tag &+ 0x632B_E59B_D9B4_E019) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 29)
    }

    public static func write(_ p: UnsafeMutableRawPointer, words: Int, index: Int, owner: Int, generation: Int) {
        let tag = UInt64(owner) << 32 | UInt64(truncatingIfNeeded: generation & 0xFFFF_FFFF)
        p.storeBytes(of: UInt64(index), as: UInt64.self)
        p.storeBytes(of: tag, toByteOffset: 8, as: UInt64.self)
        let check = mix(UInt64(index), tag)
        for w in 2..<words { p.storeBytes(of: check ^ UInt64(w), toByteOffset: 8 * w, as: UInt64.self) }
    }

    /// ``write(_:words:index:owner:generation:)`` with stores neither ASan nor TSan checks:
    /// for a slot that a racing reset may have freed and handed on (its new owner writing it
    /// too, or freeing it so the instrumented build poisoned it) before this write. Writing
    /// it is the dangling use the reset race test provokes on purpose; the pool's answer is
    /// what it checks. (TSan never saw these writes while they were `storeBytes` calls: a
    /// debug build's `storeBytes` is invisible to it.)
    public static func writeUnchecked(
        _ p: UnsafeMutableRawPointer, words: Int, index: Int, owner: Int, generation: Int
    ) {
        let tag = UInt64(owner) << 32 | UInt64(truncatingIfNeeded: generation & 0xFFFF_FFFF)
        offheap_instr_unchecked_store64(p, UInt64(index))
        offheap_instr_unchecked_store64(p + 8, tag)
        let check = mix(UInt64(index), tag)
        for w in 2..<words { offheap_instr_unchecked_store64(p + 8 * w, check ^ UInt64(w)) }
    }

    /// The owner stored in a valid pattern for slot `index`, or nil when corrupted.
    public static func validate(_ p: UnsafeMutableRawPointer, words: Int, index: Int) -> Int? {
        guard p.load(as: UInt64.self) == UInt64(index) else { return nil }
        let tag = p.load(fromByteOffset: 8, as: UInt64.self)
        let check = mix(UInt64(index), tag)
        for w in 2..<words where p.load(fromByteOffset: 8 * w, as: UInt64.self) != check ^ UInt64(w) {
            return nil
        }
        return Int(tag >> 32)
    }
}
