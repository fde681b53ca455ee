// Planted defect for the aarch64 TSan cell's self-test (ci/selftest-aarch64-checkers.sh):
// two threads write one FreeList slot with plain stores and no synchronisation between
// them. ThreadSanitizer must report a data race (exit 66). Built only by
// `ci/build-aarch64.sh --variant tsan --planted race`, never part of a product.
import COffHeapHostShims
import OffHeap
import Synchronization

/// Both writers are alive while they write (TSan reuses a finished thread's slot, and a
/// writer that ran after the other had exited could look like the same thread): each
/// waits for the other to start, and stays until the other has finished. The counters
/// order nothing after the start, so the slot writes stay unordered: the planted race.
let writersStarted = Atomic<Int>(0)
let writersDone = Atomic<Int>(0)

func plantedRace() -> Int32 {
    let pool: FreeList
    let slot: UnsafeMutableRawPointer
    do throws(OffHeapError) {
        pool = try FreeList(configuration: FreeList.Configuration(slotSize: 64, slotAlignment: 16, capacity: 4))
        slot = try pool.allocate()
    } catch {
        print("planted-race: setup failed: \(error.description)")
        return 1
    }
    let address = UInt(bitPattern: slot)
    var threads: [PlatformThread] = []
    for writer in 0..<2 {
        do throws(OffHeapError) {
            threads.append(try PlatformThread {
                let shared = UnsafeMutableRawPointer(bitPattern: address)!
                writersStarted.add(1, ordering: .relaxed)
                while writersStarted.load(ordering: .relaxed) < 2 { PlatformThread.yield() }
                for i in 0..<1_000 {
                    // The defect: a plain store to memory another thread writes too. The
                    // yield (an opaque call) keeps the optimiser from merging the stores
                    // into one and interleaves the two writers.
                    shared.storeBytes(of: UInt64(writer * 1_000_000 + i), as: UInt64.self)
                    if i % 8 == 0 { PlatformThread.yield() }
                }
                writersDone.add(1, ordering: .relaxed)
                while writersDone.load(ordering: .relaxed) < 2 { PlatformThread.yield() }
            })
        } catch {
            print("planted-race: thread start failed: \(error.description)")
            return 1
        }
    }
    for thread in threads { thread.join() }
    print("planted-race: last value \(slot.load(as: UInt64.self))")
    do throws(OffHeapError) { try pool.deallocate(slot) } catch { return 1 }
    return 0
}

offheap_exit(plantedRace())
