import Synchronization

/// The PI law behind the adaptive batch threshold: a pure value, so it can be tested
/// without threads or clocks.
///
/// Input: the free fraction of the tightest pool (``HyalineReclaimer/freeFraction``).
/// Error `e = free − setpoint` (negative means pressure). Output
/// `u = clamp(Kp·e + Ki·∫e dt, 0, 1)` scales the threshold between `minimumThreshold` and
/// `maximumThreshold`. Anti-windup: the integral is clamped to `±integralLimit` and is not
/// accumulated while the output is saturated in the direction of the error (conditional
/// integration). Under pressure (`e < 0`) the controller also asks for an immediate flush.
///
/// ```swift
/// var law = HyalinePILaw(.init())
/// let step = law.update(freeFraction: 0.05, seconds: 0.001)
/// // step.flush == true, step.threshold == configuration.minimumThreshold
/// ```
package struct HyalinePILaw: Sendable {
    package let configuration: HyalineThresholdController.Configuration
    /// The integral term's state.
    package private(set) var integral: Double = 0

    package init(_ configuration: HyalineThresholdController.Configuration) {
        self.configuration = configuration
    }

    /// One controller step.
    package mutating func update(
        freeFraction: Double, seconds: Double
    ) -> (threshold: Int, flush: Bool) {
        let c = configuration
        let free = min(max(freeFraction, 0), 1)
        let error = free - c.setpoint
        let proportional = c.kp * error
        let unclamped = proportional + c.ki * integral
        let saturatedHigh = unclamped >= 1 && error > 0
        let saturatedLow = unclamped <= 0 && error < 0
        if !saturatedHigh && !saturatedLow {
            integral = min(max(integral + error * seconds, -c.integralLimit), c.integralLimit)
        }
        // NaN (only from a configuration `validate()` rejects) counts as 0: never a trap.
        let raw = proportional + c.ki * integral
        let output = raw.isNaN ? 0 : min(max(raw, 0), 1)
        // In Double and clamped before converting: no overflow even for bounds that
        // `validate()` would reject.
        let low = Double(c.minimumThreshold), high = max(Double(c.maximumThreshold), low)
        let threshold = min(max((low + output * (high - low)).rounded(), low), high)
        return (threshold >= 0x1p63 ? Int.max : Int(threshold), error < 0)
    }
}

/// Runs `HyalinePILaw` on its own thread every `periodNanoseconds`, setting the domain's
/// batch threshold and flushing pending retirements when the pools run low.
///
/// The thread is started by ``HyalineDomain/init(configuration:)`` when the configuration has a
/// controller and is stopped and joined by ``HyalineDomain/destroy()`` or the domain's
/// deinit. The threshold it sets is a *request*: retirers still never flush fewer than
/// k + 1 records, and forced flushes pad short batches with dummy records.
///
/// Invariant: `stopFlag` is written by the domain (stop) and read by the thread; the
/// thread touches the domain only between `start` and the join in `stop`, which
/// happens before the domain's memory goes away.
public final class HyalineThresholdController: @unchecked Sendable {
    // @unchecked Sendable: the only mutable state shared across threads is `stopFlag`
    // (atomic) and the counters (atomic); `law` is touched by the controller thread only.

    /// Gains, clamps and period.
    public struct Configuration: Sendable {
        /// Proportional gain: threshold fraction per unit of free-fraction error.
        public var kp: Double
        /// Integral gain: threshold fraction per unit of accumulated error per second.
        public var ki: Double
        /// Anti-windup bound of the integral term.
        public var integralLimit: Double
        /// The free fraction the controller aims to keep (0…1).
        public var setpoint: Double
        /// Smallest batch threshold the controller sets (under pressure).
        public var minimumThreshold: Int
        /// Largest batch threshold the controller sets (when the pools are free).
        public var maximumThreshold: Int
        /// Nanoseconds between two controller steps.
        public var periodNanoseconds: UInt64

        /// Creates a configuration; every parameter sets the property of the same name.
        public init(
            kp: Double = 2.0, ki: Double = 0.5, integralLimit: Double = 1.0,
            setpoint: Double = 0.25, minimumThreshold: Int = 1, maximumThreshold: Int = 256,
            periodNanoseconds: UInt64 = 1_000_000
        ) {
            self.kp = kp
            self.ki = ki
            self.integralLimit = integralLimit
            self.setpoint = setpoint
            self.minimumThreshold = minimumThreshold
            self.maximumThreshold = maximumThreshold
            self.periodNanoseconds = periodNanoseconds
        }

        internal func validate() throws(OffHeapError) {
            guard kp >= 0, ki >= 0, integralLimit >= 0,
                kp.isFinite, ki.isFinite, integralLimit.isFinite
            else {
                throw .invalidConfiguration(
                    reason: "controller gains must be finite and non-negative")
            }
            guard setpoint > 0, setpoint < 1 else {
                throw .invalidConfiguration(reason: "controller setpoint must be in (0, 1)")
            }
            guard minimumThreshold >= 1, maximumThreshold >= minimumThreshold, maximumThreshold < 1 << 20 else {
                throw .invalidConfiguration(reason: "controller thresholds out of range")
            }
            guard periodNanoseconds >= 10_000, periodNanoseconds <= 10_000_000_000 else {
                throw .invalidConfiguration(reason: "controller period must be 10 µs ... 10 s")
            }
        }
    }

    internal var law: HyalinePILaw
    internal let stopFlag = Atomic<Bool>(false)
    internal let tickCount = Atomic<UInt64>(0)
    internal let flushCount = Atomic<UInt64>(0)
    internal let lowest = Atomic<Int>(Int.max)

    internal init(_ configuration: Configuration) {
        law = HyalinePILaw(configuration)
    }

    /// Ticks run so far.
    public var ticks: UInt64 { tickCount.load(ordering: .relaxed) }
    /// Ticks that forced a flush.
    public var forcedFlushes: UInt64 { flushCount.load(ordering: .relaxed) }
    /// The lowest threshold the controller has set (`Int.max` before the first tick).
    public var lowestThreshold: Int { lowest.load(ordering: .relaxed) }

    internal func stop() { stopFlag.store(true, ordering: .releasing) }

    /// The controller loop. `domain` is unretained (a retained reference would keep the
    /// domain from ever being deinitialised); it outlives the loop because the domain's
    /// deinit and destroy stop and join this thread first.
    internal func run(domain unmanaged: Unmanaged<HyalineDomain>) {
        unmanaged._withUnsafeGuaranteedRef { run(domain: $0) }
    }

    private func run(domain: HyalineDomain) {
        let period = law.configuration.periodNanoseconds
        let seconds = Double(period) / 1e9
        while !stopFlag.load(ordering: .acquiring) {
            PlatformThread.sleep(nanoseconds: period)
            if stopFlag.load(ordering: .acquiring) { break }
            let step = law.update(freeFraction: domain.tightestFreeFraction, seconds: seconds)
            domain.setBatchThreshold(step.threshold)
            if step.threshold < lowest.load(ordering: .relaxed) {
                lowest.store(step.threshold, ordering: .relaxed)
            }
            if step.flush {
                domain.reclaimPending(retaining: false)
                flushCount.add(1, ordering: .relaxed)
            }
            tickCount.add(1, ordering: .relaxed)
        }
    }
}

extension HyalineDomain {
    /// The smallest ``HyalineReclaimer/freeFraction`` over the registered reclaimers.
    package var tightestFreeFraction: Double {
        let count = min(
            Int(word(Layout.reclaimerCount).pointee.load(ordering: .acquiring)),
            Layout.maxReclaimers)
        var tightest = 1.0
        for index in 0..<count {
            if let owner = reclaimerReference(HyalineReclaimerID(rawValue: UInt32(index))) {
                tightest = min(tightest, owner._withUnsafeGuaranteedRef { $0.freeFraction })
            }
        }
        return tightest
    }

    /// The running controller, if the configuration has one.
    public var thresholdController: HyalineThresholdController? { controllerState }
}
