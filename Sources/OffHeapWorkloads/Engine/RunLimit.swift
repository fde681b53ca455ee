import OffHeap

/// When a run ends: after a wall-clock duration, or once the workers together have done a
/// number of operations. Either way SIGINT/SIGTERM (when the caller installed the shim's
/// handlers) and ``RunControl/requestStop()`` end it early, and results are still produced.
@frozen
public enum RunLimit: Equatable, Sendable {
    case duration(nanoseconds: UInt64)
    case operations(UInt64)

    /// Parses `500ms`, `10s`, `2m`, `1h` (a positive integer and a unit) into a duration.
    ///
    /// ```swift
    /// try RunLimit.parseDuration("2m")   // .duration(nanoseconds: 120_000_000_000)
    /// ```
    public static func parseDuration(_ text: String) throws(OffHeapError) -> RunLimit {
        var digits: UInt64 = 0
        var digitCount = 0
        var unit = ""
        var overflow = false
        for scalar in text.unicodeScalars {
            if unit.isEmpty, scalar.value >= 48, scalar.value <= 57 {
                let (times, o1) = digits.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(UInt64(scalar.value - 48))
                overflow = overflow || o1 || o2
                digits = plus
                digitCount += 1
            } else {
                unit.unicodeScalars.append(scalar)
            }
        }
        guard digitCount > 0, digits > 0, !overflow else {
            throw .invalidConfiguration(reason: "duration must be a positive integer with a unit (500ms, 10s, 2m, 1h)")
        }
        let scale: UInt64
        switch unit {
        case "ms": scale = 1_000_000
        case "s": scale = 1_000_000_000
        case "m": scale = 60_000_000_000
        case "h": scale = 3_600_000_000_000
        default:
            throw .invalidConfiguration(reason: "duration unit must be ms, s, m or h (e.g. 10s)")
        }
        let (ns, o) = digits.multipliedReportingOverflow(by: scale)
        guard !o, ns <= 366 * 24 * 3_600_000_000_000 else {
            throw .invalidConfiguration(reason: "duration is longer than a year")
        }
        return .duration(nanoseconds: ns)
    }

    /// Human form (`10s`, `1500ms`, `N ops`) for progress lines and JSON.
    public var description: String {
        switch self {
        case .duration(let ns):
            if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
            return "\(ns / 1_000_000)ms"
        case .operations(let n): return "\(n) ops"
        }
    }
}
