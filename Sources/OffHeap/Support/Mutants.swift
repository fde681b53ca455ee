#if OFFHEAP_MUTANTS
    import Synchronization

    /// A build-time mutation of the library, compiled in only with `-DOFFHEAP_MUTANTS` and
    /// dormant until armed (see ``Mutants``).
    @usableFromInline
    package enum Mutant: UInt8, CaseIterable, Sendable {
        /// `FreeList`: pop's head load and CAS and push's CAS relaxed (no acquire/release on
        /// the head), so a slot's contents are not published to the next owner.
        case freeListHeadRelaxed = 1
        /// `HyalineDomain`: a reader's leave (`0 → inactive` CAS) and a flush's load of a slot
        /// head relaxed, so a reader's accesses are not ordered before the reclamation of a
        /// node whose batch skipped its (inactive) slot.
        case hyalineSlotHeadRelaxed
        /// `SizeClassHeap`: the first remote free after arming, and every 64th after it,
        /// silently drops the block instead of pushing it on the owner page's thread-free stack.
        case lostRemoteFree
        /// `FreeList`: a push links the slot to the top's neighbour (`top ^ 1`) instead of
        /// the top.
        case corruptFreeListLink

        /// The name the defect programs use (`offheap-defects mutant-NAME`).
        package var name: String {
            switch self {
            case .freeListHeadRelaxed: return "freelist-head-relaxed"
            case .hyalineSlotHeadRelaxed: return "hyaline-head-relaxed"
            case .lostRemoteFree: return "lost-remote-free"
            case .corruptFreeListLink: return "corrupt-link"
            }
        }
    }

    /// Mutant schemata (Untch, Offutt & Harrold, ISSTA 1993): every ``Mutant`` is compiled
    /// into ONE checker build (`-DOFFHEAP_MUTANTS`), each behind `isArmed` at its site, so N
    /// mutants cost one build, not N. Nothing is armed unless a program calls ``arm(_:)``
    /// (the seeded-defect program `offheap-defects`, before its workload starts its
    /// threads); a build without the condition has neither this type nor any site's branch:
    /// every site reads
    ///
    /// ```swift
    /// #if OFFHEAP_MUTANTS
    ///     if Mutants.isArmed(.freeListHeadRelaxed) { /* mutated op */ } else { /* original */ }
    /// #else
    ///     /* the original op, unchanged */
    /// #endif
    /// ```
    ///
    /// The armed mutant is one plain byte with a literal initial value, written only by
    /// ``arm(_:)`` before the workload creates its threads (thread creation orders the write
    /// before their reads). Not an `Atomic` global: that needs lazy initialisation, and in a
    /// debug build every access to a lazily initialised global goes through `swift_once`,
    /// which the Swift runtime reports to TSan as synchronisation, so each push and pop
    /// would order the threads and hide exactly the races the ordering mutants plant (a
    /// literal-initialised global is emitted statically and read directly).
    @usableFromInline
    package enum Mutants {
        @usableFromInline
        nonisolated(unsafe) package static var armed: UInt8 = 0

        /// Arms `mutant` (one at a time: arming another disarms the previous one). Call it
        /// before starting the threads that use the library.
        package static func arm(_ mutant: Mutant) {
            armed = mutant.rawValue
        }

        /// The armed mutant, if any.
        package static var current: Mutant? {
            Mutant(rawValue: armed)
        }

        @inlinable @inline(__always)
        package static func isArmed(_ mutant: Mutant) -> Bool {
            armed == mutant.rawValue
        }

        /// ``Mutant/lostRemoteFree``: whether this remote free is one to drop (the first
        /// after arming, then every 64th).
        @usableFromInline
        package static func dropsRemoteFree() -> Bool {
            remoteFrees.add(1, ordering: .relaxed).oldValue & 63 == 0
        }

        @usableFromInline
        package static let remoteFrees = Atomic<UInt64>(0)
    }
#endif
