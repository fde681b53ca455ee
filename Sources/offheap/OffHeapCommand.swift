import ArgumentParser
import Foundation
import OffHeap
import OffHeapReports
import OffHeapWorkloads

/// `offheap`: stress, benchmark and probe the swift-offheap allocators.
///
/// Exit status: 0 ok; 1 corruption, errors, a failed recovery or a failed peer run; 2 bad
/// options (a clear message on standard error).
@main
struct OffHeapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offheap",
        abstract: "Stress, benchmark and probe the swift-offheap allocators.",
        discussion: """
            stress and bench run the same engine as the Embedded aarch64 program \
            offheap-engine, with the same options; bench adds peers (jemalloc, mimalloc, \
            tcmalloc under LD_PRELOAD). Exit status: 0 ok; 1 corruption, errors, a failed \
            recovery or a failed peer run; 2 bad options.

            Examples:
              offheap stress --allocator all --roles all --threads 5 --duration 5s
              offheap bench --workload larson --allocator heap,system --peers all
              offheap probe --json -
              offheap help bench
            """,
        version: OffHeapVersion.current,
        subcommands: [StressCommand.self, BenchCommand.self, ProbeCommand.self])

    static func main() {
        let status = execute(Array(CommandLine.arguments.dropFirst()))
        FileHandle.standardOutput.synchronizeFile()
        Foundation.exit(status)
    }

    /// Parses and runs `arguments`; returns the exit status.
    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch {
            return report(error)
        }
    }

    /// Parses `arguments` without running them: 0 when valid, else the status a run would
    /// exit with (2 for bad options). Tests use it.
    static func parseStatus(_ arguments: [String]) -> Int32 {
        do {
            _ = try parseAsRoot(arguments)
            return 0
        } catch {
            return status(for: error)
        }
    }

    static func status(for error: any Error) -> Int32 {
        if let code = error as? ExitCode { return code.rawValue }
        if let failure = error as? OffHeapError {
            return failure.kind == .invalidConfiguration ? 2 : 1
        }
        if error is PeerError || error is RunFailure { return 1 }
        return exitCode(for: error) == .success ? 0 : 2
    }

    static func report(_ error: any Error) -> Int32 {
        let code = status(for: error)
        if error is ExitCode { return code }
        if code == 0 {
            print(fullMessage(for: error))
        } else if let failure = error as? OffHeapError {
            FileHandle.standardError.write(Data("offheap: \(failure.description)\n".utf8))
        } else if error is PeerError || error is RunFailure {
            FileHandle.standardError.write(Data("offheap: \(error)\n".utf8))
        } else {
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
        }
        return code
    }
}

/// A run that finished but must fail the process.
struct RunFailure: Error, CustomStringConvertible {
    var description: String
}
