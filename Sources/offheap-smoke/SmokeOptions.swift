import COffHeapHostShims
import OffHeapWorkloads

/// The smoke program's command line:
/// `offheap-smoke [--repetitions N] [--concurrent] [--rounds N]`.
///
/// `--repetitions N` runs the checks N times in one process (the aarch64 TSan race loop:
/// ThreadSanitizer's start-up under QEMU costs ~12 s, so the repetitions share one
/// process); `--concurrent` runs only the multi-threaded checks; `--rounds N` sets the
/// rounds of each multi-threaded check (default 40; the 128-bit CAS check scales its
/// increments with it), so that many short repetitions fit a race loop's time.
///
/// ```sh
/// offheap-smoke --concurrent --repetitions 50 --rounds 4
/// ```
struct SmokeOptions {
    var repetitions = 1
    var concurrentOnly = false
    var rounds = 40

    static let usage = "usage: offheap-smoke [--repetitions N] [--concurrent] [--rounds N]"

    /// Parses the process arguments; `nil` (after printing why) when they are not valid.
    static func parse() -> SmokeOptions? {
        var options = SmokeOptions()
        let arguments = ProcessArguments.afterProgramName
        var index = 0
        while index < arguments.count {
            switch arguments[index] {
            case "--concurrent":
                options.concurrentOnly = true
                index += 1
            case "--repetitions", "--rounds":
                guard index + 1 < arguments.count, let n = Int(arguments[index + 1]),
                    (1...100_000).contains(n)
                else {
                    print("offheap-smoke: \(arguments[index]) needs an integer in 1...100000")
                    print(usage)
                    return nil
                }
                if arguments[index] == "--rounds" { options.rounds = n } else { options.repetitions = n }
                index += 2
            case "-h", "--help":
                print(usage)
                offheap_exit(0)
                return nil
            default:
                print("offheap-smoke: unknown option \(arguments[index])")
                print(usage)
                return nil
            }
        }
        return options
    }
}
