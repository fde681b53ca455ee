import COffHeapShims
import OffHeap
import Synchronization

extension StressWorker {
    /// Publisher under Hyaline: allocate, write, publish; retire the displaced slot (in a
    /// mixed run, odd cells follow the exchange protocol instead: the displaced slot is
    /// verified and freed here).
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
                let start = timed ? MonotonicClock.nanoseconds : 0
                let global = rank * cells + cell
                let inPlace = board.isHyalineCell(global)
                do throws(OffHeapError) {
                    let p = try allocator.allocate()
                    tally.allocated()
                    let birth = hyaline.domain.birthEra()
                    generation &+= 1
                    write(SlotPattern(slot: UInt64(global), owner: owner, generation: generation), to: p)
                    if inPlace { hyaline.checker.noteAllocated() }
                    let displaced = board.publish(p, cell: global)
                    let displacedBirth = births[cell]
                    births[cell] = birth
                    if let displaced {
                        if inPlace {
                            retire(displaced, birth: displacedBirth, token: token, hyaline: hyaline)
                        } else {
                            checkAndFree(displaced, cell: global)
                        }
                    }
                    done &+= 1
                } catch {
                    tally.count(error)
                    // Retired slots wait for a batch: flush so they come back sooner.
                    token.flushPending()
                    offheap_yield()
                }
                cell = cell + 1 == cells ? 0 : cell + 1
                if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
            }
            token.leave()
            let statistics = hyaline.domain.statistics
            if statistics.unreclaimed > tally.peakUnreclaimed {
                tally.peakUnreclaimed = statistics.unreclaimed
            }
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
                    tally.errors &+= 1  // the slot is leaked; recovery will show it
                    return
                }
                token.flushPending()
                offheap_yield()
            }
        }
    }

    /// Reader under Hyaline: validate every Hyaline cell's slot in place under a guard; in a
    /// mixed run take the exchange cells' slots out, verify and free them.
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
                if !board.isHyalineCell(cell) {
                    if let p = board.take(cell: cell) { checkAndFree(p, cell: cell) }
                    continue
                }
                let timed = tally.validations & sampleMask == 0
                let start = timed ? MonotonicClock.nanoseconds : 0
                let value = token.protect(board.cells + cell)
                guard let p = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: value))
                else { continue }
                checkPublished(p, cell: cell)
                tally.validations &+= 1
                if timed { tally.latency.record(MonotonicClock.nanoseconds &- start) }
            }
            token.leave()
            _ = control.remaining(lane: lane, done: 0)
            if finalPass { break }
            if board.allPublishersFinished { finalPass = true }
        }
    }
}
