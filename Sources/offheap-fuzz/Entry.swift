// offheap-fuzz: op-sequence fuzzers for every allocator, each checked against a shadow model
// (live set with contents, the typed error the docs promise for each bad call, statistics).
//
// Built with `-sanitize=fuzzer,address -DOFFHEAP_LIBFUZZER` (ci/fuzz.sh) it is a libFuzzer
// binary; the fuzzer is chosen by the environment variable OFFHEAP_FUZZ_TARGET:
//
//   OFFHEAP_FUZZ_TARGET=freelist .build-fuzz/debug/offheap-fuzz -max_total_time=10 corpus/
//
// Built plainly (as every `swift build` does) it replays inputs without libFuzzer:
//
//   offheap-fuzz freelist ci/fuzz/corpus/freelist/*
//   offheap-fuzz --list
import Glibc

/// One fuzzer: a name and the function that decodes and runs one input.
struct Fuzzer: Sendable {
    var name: String
    var run: @Sendable (UnsafeRawBufferPointer) -> Void
}

let fuzzers: [Fuzzer] = [
    Fuzzer(name: "freelist", run: fuzzFreeList),
    Fuzzer(name: "sharded", run: fuzzShardedFreeList),
    Fuzzer(name: "arena", run: fuzzArena),
    Fuzzer(name: "slabpool", run: fuzzSlabPool),
    Fuzzer(name: "sizeclass", run: fuzzSizeClassHeap),
    Fuzzer(name: "hyaline", run: fuzzHyalineStructures),
]

/// Writes one line to standard error.
func printError(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

func fuzzer(named name: String) -> Fuzzer? { fuzzers.first { $0.name == name } }

/// The fuzzer chosen by OFFHEAP_FUZZ_TARGET, looked up once.
let selectedFuzzer: Fuzzer = {
    guard let raw = getenv("OFFHEAP_FUZZ_TARGET"), let chosen = fuzzer(named: String(cString: raw))
    else {
        let names = fuzzers.map(\.name).joined(separator: ", ")
        printError("offheap-fuzz: set OFFHEAP_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    return chosen
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedFuzzer.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if OFFHEAP_LIBFUZZER
/// libFuzzer's driver (libclang_rt.fuzzer).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The entry point. With `-sanitize=fuzzer` the compiler emits no `main` for `@main`, and
/// SwiftPM links `main` to the symbol `offheap_fuzz_main`: this is it, and it hands the
/// command line to libFuzzer.
@_cdecl("offheap_fuzz_main")
public func libFuzzerMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
) -> CInt {
    _ = selectedFuzzer  // fail fast on a missing or unknown OFFHEAP_FUZZ_TARGET
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOneInput)
}
#else
/// Replays inputs without libFuzzer: `offheap-fuzz NAME FILE...`.
@main
enum Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--list" {
            for fuzzer in fuzzers { print(fuzzer.name) }
            return
        }
        guard let name = arguments.first, let chosen = fuzzer(named: name) else {
            let names = fuzzers.map(\.name).joined(separator: "|")
            printError("usage: offheap-fuzz \(names) FILE... | --list")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let bytes = readFile(path) else {
                printError("offheap-fuzz: cannot read \(path)")
                exit(2)
            }
            bytes.withUnsafeBytes { chosen.run($0) }
            print("\(name) \(path): ok (\(bytes.count) bytes)")
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, file) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }
}
#endif
