import COffHeapShims
import Synchronization

/// Aligned reservations at a hinted address: one `mmap` instead of three.
///
/// An aligned reservation otherwise over-reserves by the alignment and trims the head and
/// the tail: three system calls, two of them `munmap`s, which shoot down other threads'
/// TLB entries. The heap makes one per segment and per huge block. mimalloc's way around it
/// is followed here: aligned reservations first ask for an aligned address in a window set
/// aside for them, [2 TiB, 4 TiB), handed out upward by a CAS and wrapping at the top; the
/// start is randomised within the first TiB. `MAP_FIXED_NOREPLACE` never replaces a
/// mapping: if the range is taken (after a wrap, or by someone else), or the address space
/// is smaller than 4 TiB (a 39-bit aarch64 VA), or the kernel or an emulator does not
/// grant the hint, the call fails or returns another address, and the reservation falls
/// back to over-reserving. After `hintMissLimit` misses in a row the hints stop for the
/// process (the fallback is always correct; the hint only saves system calls).
///
/// Invariant: `next` only hands out aligned, non-overlapping ranges between wraps (each
/// CAS moves it past the range it hands out); correctness never depends on the hint, only
/// on the alignment check of the address the kernel returned.
extension VirtualMemory {
    @usableFromInline static let hintWindowStart: UInt = 2 << 40
    @usableFromInline static let hintWindowEnd: UInt = 4 << 40
    static let hintMissLimit = 8

    /// The next hint (0: not chosen yet).
    static let hintNext = Atomic<UInt>(0)
    /// Misses since the last hinted reservation the kernel granted.
    static let hintMisses = Atomic<Int>(0)
    /// Reservations the hint served (for tests and statistics).
    package static let hintedReservations = Atomic<Int>(0)

    /// Whether aligned reservations still try the hint.
    package static var hintsEnabled: Bool { hintMisses.load(ordering: .relaxed) < hintMissLimit }

    /// An aligned mapping of `size` bytes at the next hint, or nil (then over-reserve).
    static func reserveAtHint(
        size: Int, alignment: Int, protection: Int32, flags: Int32
    ) -> UnsafeMutableRawPointer? {
        guard hintsEnabled else { return nil }
        let mask = UInt(alignment - 1)
        let span = (UInt(size) + mask) & ~mask
        // Large ones would wrap the window too often: they take the plain path.
        guard span <= (hintWindowEnd - hintWindowStart) / 16 else { return nil }
        var current = hintNext.load(ordering: .relaxed)
        var hint: UInt
        while true {
            var start = current
            if start == 0 {
                // Randomised start within the window's first TiB, on a 4 MiB boundary.
                let seed = UInt(truncatingIfNeeded: MonotonicClock.nanoseconds) &* 0x9E37_79B9_7F4A_7C15
                start = hintWindowStart + (((seed >> 24) % (1 << 40)) & ~UInt((4 << 20) - 1))
            }
            start = (start + mask) & ~mask
            if start + span > hintWindowEnd { start = (hintWindowStart + mask) & ~mask }
            let (exchanged, original) = hintNext.compareExchange(
                expected: current, desired: start + span, ordering: .relaxed)
            if exchanged {
                hint = start
                break
            }
            current = original
        }
        if let base = offheap_mmap_anonymous(
            UnsafeMutableRawPointer(bitPattern: hint), size, protection,
            flags | Int32(OFFHEAP_MAP_FIXED_NOREPLACE))
        {
            if UInt(bitPattern: base) & mask == 0 {
                if hintMisses.load(ordering: .relaxed) != 0 { hintMisses.store(0, ordering: .relaxed) }
                hintedReservations.add(1, ordering: .relaxed)
                return base
            }
            // A kernel without MAP_FIXED_NOREPLACE treats it as a plain hint and may place
            // the mapping elsewhere.
            _ = offheap_munmap(base, size)
        }
        hintMisses.add(1, ordering: .relaxed)
        return nil
    }
}
