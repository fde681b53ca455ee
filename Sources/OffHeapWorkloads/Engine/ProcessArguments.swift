import COffHeapHostShims

/// The process's command-line arguments, read through the C shim: Embedded Swift, which
/// builds the aarch64 programs, has no `CommandLine`.
///
/// ```swift
/// let arguments = ProcessArguments.afterProgramName   // e.g. ["stress", "--threads", "4"]
/// ```
public enum ProcessArguments {
    /// Every argument after the program name.
    public static var afterProgramName: [String] {
        let count = offheap_argument_count()
        guard count > 1 else { return [] }
        var arguments: [String] = []
        for index in 1..<count {
            guard let raw = offheap_argument(index) else { continue }
            arguments.append(String(cString: raw))
        }
        return arguments
    }
}
