import COffHeapShims
import OffHeap
import Synchronization

/// The publisher/reader exchange under Hyaline: readers never own a published slot, they
/// read it in place while a guard protects it; a publisher that replaces a slot retires the
/// old one, and the domain hands it back to the allocator once no reader can hold it.
///
/// Invariants: a mailbox cell is written only by its publisher (exchange, acquiring and
/// releasing: the release publishes the slot's pattern, written before); readers load cells
/// only through ``HyalineGuard/protect(_:)`` (sequentially consistent), so every slot a
/// reader reaches stays allocated and unmodified until its guard ends. A displaced slot is
/// retired with the era read just before it was published (its birth era), exactly once,
/// by the publisher that displaced it. After all workers joined, ``finish()`` flushes the
/// domain so every retired slot is reclaimed; the remaining count is reported.
final class HyalineExchange: @unchecked Sendable {
    // @unchecked Sendable: the domain is thread-safe; the reclaimer id is immutable.
    let domain: HyalineDomain
    let reclaimer: HyalineReclaimerID
    /// Highest unreclaimed count a `stalled` worker saw while inside (−1: no such worker).
    let stalledPeak = Atomic<Int>(-1)

    init(domain: HyalineDomain, reclaimer: HyalineReclaimerID) {
        self.domain = domain
        self.reclaimer = reclaimer
    }

    /// A domain with room for `readers` guards (plus the publishers') whose reclaimer
    /// returns slots to `allocator`. (A static factory: Embedded Swift rejects generic
    /// initialisers on classes.)
    static func make<A: FixedSizeAllocator>(_ allocator: A, readers: Int) throws(OffHeapError) -> HyalineExchange {
        let domain = try HyalineDomain(HyalineDomain.Configuration(maxReaders: readers * 2 + 2))
        let reclaimer = try domain.register(HyalinePoolReclaimer(allocator, capacity: 1 << 20))
        return HyalineExchange(domain: domain, reclaimer: reclaimer)
    }

    /// Reclaims everything retired (no reader is inside any more); returns what is left.
    func finish() -> UInt64 {
        domain.reclaimPending()
        let left = domain.statistics.unreclaimed
        do throws(OffHeapError) { try domain.destroy() } catch {}
        return left
    }
}

extension StressWorker {
    /// Publisher under Hyaline: allocate, write, publish; retire the displaced slot.
    mutating func publishUnderHyaline(into board: Mailboxes, rank: Int, hyaline: HyalineExchange) {
        let cells = board.cellsPerPublisher
        let births = UnsafeMutablePointer<UInt64>.allocate(capacity: cells)
        births.initialize(repeating: 0, count: cells)
        defer { births.deallocate() }
        var done: UInt64 = 0
        var cell = 0
        var budget = control.remaining(lane: lane, done: 0)
        while budget > 0 && !tally.gaveUp {
            let token: HyalineGuard
            do throws(OffHeapError) { token = try hyaline.domain.enter() } catch {
                tally.count(error)
                offheap_yield()
                budget = control.remaining(lane: lane, done: done)
                continue
            }
            let chunk = budget < 64 ? budget : 64
            for _ in 0..<chunk {
                let timed = done & sampleMask == 0
                let start = timed ? Clock.nanoseconds : 0
                let global = rank * cells + cell
                do throws(OffHeapError) {
                    let p = try allocator.allocate()
                    tally.allocated()
                    let birth = hyaline.domain.birthEra()
                    generation &+= 1
                    SlotPattern(slot: UInt64(global), owner: owner, generation: generation)
                        .write(to: p, byteCount: slotSize)
                    let displaced = board.publish(p, cell: global)
                    let displacedBirth = births[cell]
                    births[cell] = birth
                    if let displaced {
                        retire(displaced, birth: displacedBirth, token: token, hyaline: hyaline)
                    }
                    done &+= 1
                } catch {
                    tally.count(error)
                    // Retired slots wait for a batch: flush so they come back sooner.
                    token.flushPending()
                    offheap_yield()
                }
                cell = cell + 1 == cells ? 0 : cell + 1
                if timed { tally.latency.record(Clock.nanoseconds &- start) }
            }
            token.leave()
            budget = control.remaining(lane: lane, done: done)
        }
        tally.operations = done
    }

    /// Retires a displaced slot; when the domain has no free record, flushes and retries.
    mutating func retire(
        _ slot: UnsafeMutableRawPointer, birth: UInt64, token: borrowing HyalineGuard,
        hyaline: HyalineExchange
    ) {
        for attempt in 0..<64 {
            do throws(OffHeapError) {
                try token.retire(slot, birthEra: birth, reclaimer: hyaline.reclaimer)
                return
            } catch {
                if !error.isExhaustion || attempt == 63 {
                    tally.errors &+= 1   // the slot is leaked; recovery will show it
                    return
                }
                token.flushPending()
                offheap_yield()
            }
        }
    }

    /// Reader under Hyaline: validate every published slot in place under a guard.
    mutating func readUnderHyaline(from board: Mailboxes, hyaline: HyalineExchange) {
        let total = board.cellCount
        var finalPass = false
        while true {
            let token: HyalineGuard
            do throws(OffHeapError) { token = try hyaline.domain.enter() } catch {
                tally.count(error)
                offheap_yield()
                if control.isStopping && board.allPublishersFinished { break }
                continue
            }
            for cell in 0..<total {
                let timed = tally.validations & sampleMask == 0
                let start = timed ? Clock.nanoseconds : 0
                let value = token.protect(board.cells + cell)
                guard let p = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: value))
                else { continue }
                checkPublished(p, cell: cell, board: board)
                tally.validations &+= 1
                if timed { tally.latency.record(Clock.nanoseconds &- start) }
            }
            token.leave()
            _ = control.remaining(lane: lane, done: 0)
            if finalPass { break }
            if board.allPublishersFinished { finalPass = true }
        }
    }
}
