import COffHeapShims

/// Finds out how wide this machine's user address space really is, and the page facts the
/// allocators depend on.
///
/// ```swift
/// let report = AddressSpaceProbe.run()
/// print(report.render())
/// ```
///
/// ## Why it asks the kernel, not one mapping
///
/// Linux hands out user addresses above 2^47 (x86-64 with 5-level paging, LA57) or above
/// 2^48 (aarch64 with 52-bit VA) **only when a mapping asks for them** with an address hint
/// above that boundary; an ordinary `mmap` stays below it even on such hardware. Looking at
/// the top bits of one fresh mapping therefore never sees a wide address space. The probe
/// maps one page at a hint of 2^52 (and 2^51, which is still inside a 52-bit aarch64 space),
/// first with `MAP_FIXED_NOREPLACE` and then as a plain hint, records where the kernel put
/// it, and unmaps it again.
///
/// ## Why no allocator here stores tags in pointer bits
///
/// The "unused" high bits of a pointer are not unused everywhere: LA57 makes user addresses
/// 57 bits wide, aarch64 kernels with 52-bit VA use bits 48–51, and aarch64 Top Byte Ignore
/// (plus MTE/PAC) give the top byte a meaning of its own. A tag packed into those bits
/// works on the developer's machine and silently corrupts addresses on another — exactly the
/// case this probe shows can be invisible until a process asks for a high address. So every
/// lock-free word in swift-offheap packs *indices and offsets* with tags (or uses a 128-bit
/// `Atomic<WordPair>`), never a pointer with borrowed bits.
package enum AddressSpaceProbe {
    /// The address the hint experiment asks for first: 2^52.
    package static let hintAddress: UInt = 1 << 52
    /// The second hint, 2^51: inside a 52-bit aarch64 space, where 2^52 is out of range.
    package static let secondaryHintAddress: UInt = 1 << 51

    /// The raw material of a report, so parsing and the decision logic can be tested with
    /// any machine's texts (e.g. an LA57 machine's, which this host cannot produce).
    package struct Inputs: Sendable {
        /// Contents of `/proc/cpuinfo` (the first processor's block suffices).
        package var cpuinfo: [UInt8]
        /// Contents of `/proc/meminfo`.
        package var meminfo: [UInt8]
        /// Contents of `/sys/kernel/mm/transparent_hugepage/enabled`.
        package var transparentHugePageEnabled: [UInt8]
        /// `uname` machine.
        package var machine: String
        /// `uname` release.
        package var kernelRelease: String
        /// The hint that was tried.
        package var hintAddress: UInt
        /// The highest address the hint experiment obtained; 0 when all attempts failed.
        package var hintedMappingAddress: UInt
        /// Whether the hint experiment ran (it is skipped under ThreadSanitizer, whose mmap
        /// interceptor drops high hints).
        package var hintExperimentRan: Bool
        /// Address of an ordinary mapping; 0 when unknown.
        package var defaultMappingAddress: UInt
        /// Base page size in bytes.
        package var pageSize: Int
        /// THP size in bytes, 0 when unavailable.
        package var transparentHugePageSize: Int
        /// Online CPUs.
        package var onlineCPUs: Int

        package init(
            cpuinfo: [UInt8], meminfo: [UInt8], transparentHugePageEnabled: [UInt8],
            machine: String, kernelRelease: String, hintAddress: UInt = AddressSpaceProbe.hintAddress,
            hintedMappingAddress: UInt, hintExperimentRan: Bool = true,
            defaultMappingAddress: UInt = 0, pageSize: Int = 4096,
            transparentHugePageSize: Int = 0, onlineCPUs: Int = 1
        ) {
            self.cpuinfo = cpuinfo
            self.meminfo = meminfo
            self.transparentHugePageEnabled = transparentHugePageEnabled
            self.machine = machine
            self.kernelRelease = kernelRelease
            self.hintAddress = hintAddress
            self.hintedMappingAddress = hintedMappingAddress
            self.hintExperimentRan = hintExperimentRan
            self.defaultMappingAddress = defaultMappingAddress
            self.pageSize = pageSize
            self.transparentHugePageSize = transparentHugePageSize
            self.onlineCPUs = onlineCPUs
        }
    }

    /// Probes this machine: reads `/proc` and `/sys`, runs the hint experiment, analyses.
    /// Never fails: what cannot be read is reported as unknown (0 or `""`).
    package static func run() -> AddressSpaceReport {
        analyze(inputs: gatherInputs())
    }

    /// Reads the files and runs the hint experiment (see the type's documentation).
    package static func gatherInputs() -> Inputs {
        var release = [CChar](repeating: 0, count: 256)
        var machine = [CChar](repeating: 0, count: 64)
        let unameOK = release.withUnsafeMutableBufferPointer { r in
            machine.withUnsafeMutableBufferPointer { m in
                offheap_uname(r.baseAddress!, r.count, m.baseAddress!, m.count) == 0
            }
        }
        let ran = offheap_thread_sanitizer_active() == 0
        let (hinted, fallback) = hintExperiment(hints: ran)
        return Inputs(
            cpuinfo: readFile("/proc/cpuinfo", capacity: 64 << 10),
            meminfo: readFile("/proc/meminfo", capacity: 16 << 10),
            transparentHugePageEnabled: readFile(
                "/sys/kernel/mm/transparent_hugepage/enabled", capacity: 256),
            machine: unameOK ? string(fromCString: machine) : "",
            kernelRelease: unameOK ? string(fromCString: release) : "",
            hintAddress: hintAddress,
            hintedMappingAddress: hinted,
            hintExperimentRan: ran,
            defaultMappingAddress: fallback,
            pageSize: VirtualMemory.pageSize,
            transparentHugePageSize: VirtualMemory.hugePageSize ?? 0,
            onlineCPUs: max(Int(offheap_online_cpus()), 0))
    }

    /// Maps one page at each hint (exact placement first, then as a plain hint) and one
    /// page without a hint; unmaps all of them. Returns the highest hinted address obtained
    /// (0 if none, or when `hints` is false) and the unhinted address.
    package static func hintExperiment(hints: Bool = true) -> (hinted: UInt, unhinted: UInt) {
        let page = VirtualMemory.pageSize
        var highest: UInt = 0
        func attempt(_ hint: UInt, _ flags: Int32) {
            let request = UnsafeMutableRawPointer(bitPattern: hint)
            guard let mapped = offheap_mmap_anonymous(request, page, OFFHEAP_PROT_NONE, flags)
            else { return }
            highest = max(highest, UInt(bitPattern: mapped))
            _ = offheap_munmap(mapped, page)
        }
        let noReserve = Int32(OFFHEAP_MAP_NORESERVE)
        for hint in [hintAddress, secondaryHintAddress] where hints {
            attempt(hint, noReserve | Int32(OFFHEAP_MAP_FIXED_NOREPLACE))
            attempt(hint, noReserve)
        }
        var unhinted: UInt = 0
        if let mapped = offheap_mmap_anonymous(nil, page, OFFHEAP_PROT_NONE, noReserve) {
            unhinted = UInt(bitPattern: mapped)
            _ = offheap_munmap(mapped, page)
        }
        return (highest, unhinted)
    }

    /// Turns raw inputs into a report; pure, so tests can feed any machine's texts.
    ///
    /// ```swift
    /// var inputs = AddressSpaceProbe.gatherInputs()
    /// inputs.hintedMappingAddress = 1 << 52      // as on an LA57 machine
    /// assert(AddressSpaceProbe.analyze(inputs: inputs).effectiveVABits == 57)
    /// ```
    package static func analyze(inputs: Inputs) -> AddressSpaceReport {
        let cpu = ProcText(inputs.cpuinfo)
        let mem = ProcText(inputs.meminfo)
        let isX86 = AddressSpaceProbe.isX86(inputs.machine)

        let flags = cpu.value(of: "flags") ?? []
        let la57Flag = isX86 && ProcText.containsWord("la57", in: flags)
        var virtualBits = 0
        var physicalBits = 0
        if let sizes = cpu.value(of: "address sizes") {
            let numbers = ProcText.integers(in: sizes)
            if numbers.count >= 2 {
                physicalBits = numbers[0]
                virtualBits = numbers[1]
            }
        }

        var model = cpu.string(of: "model name") ?? cpu.string(of: "Hardware") ?? ""
        if model.isEmpty, let implementer = cpu.string(of: "CPU implementer") {
            model = "implementer " + implementer + ", part " + (cpu.string(of: "CPU part") ?? "?")
        }

        let hugeTotal = mem.value(of: "HugePages_Total").flatMap(ProcText.firstInteger) ?? 0
        let hugeKiB = mem.value(of: "Hugepagesize").flatMap(ProcText.firstInteger) ?? 0
        let thpMode = ProcText.bracketedWord(in: inputs.transparentHugePageEnabled)

        let classicLimit: UInt = isX86 ? 1 << 47 : 1 << 48
        let hinted = inputs.hintedMappingAddress
        let highest = max(hinted, inputs.defaultMappingAddress)
        let userBits = highest == 0 ? 0 : UInt.bitWidth - highest.leadingZeroBitCount
        let highGranted = hinted >= classicLimit
        let la57Active = isX86 && hinted >= 1 << 47
        let effectiveBits: Int
        if isX86 {
            effectiveBits = la57Active ? 57 : 48
        } else {
            effectiveBits = userBits
        }

        return AddressSpaceReport(
            architecture: inputs.machine, kernelRelease: inputs.kernelRelease,
            cpuModel: model, onlineCPUs: inputs.onlineCPUs, pageSize: inputs.pageSize,
            transparentHugePageSize: inputs.transparentHugePageSize,
            transparentHugePageMode: thpMode, hugeTLBPagesTotal: hugeTotal,
            hugeTLBPageSize: hugeKiB * 1024, la57Flag: la57Flag,
            cpuVirtualAddressBits: virtualBits, cpuPhysicalAddressBits: physicalBits,
            hintAddress: Int(bitPattern: inputs.hintAddress),
            hintedMappingAddress: Int(bitPattern: hinted),
            defaultMappingAddress: Int(bitPattern: inputs.defaultMappingAddress),
            hintExperimentRan: inputs.hintExperimentRan,
            highAddressesGranted: highGranted, la57Active: la57Active,
            userAddressBits: userBits, effectiveVABits: effectiveBits)
    }

    /// Byte comparison, not `String ==`: that would pull Unicode normalisation tables into
    /// the Embedded aarch64 link for nothing.
    @usableFromInline
    internal static func isX86(_ machine: String) -> Bool {
        machine.utf8.elementsEqual("x86_64".utf8)
    }

    @usableFromInline
    internal static func readFile(_ path: String, capacity: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let count = buffer.withUnsafeMutableBytes { bytes in
            offheap_read_file(path, bytes.baseAddress!, bytes.count)
        }
        guard count > 0 else { return [] }
        buffer.removeSubrange(Int(count)...)
        return buffer
    }

    @usableFromInline
    internal static func string(fromCString chars: [CChar]) -> String {
        var bytes: [UInt8] = []
        for char in chars {
            if char == 0 { break }
            bytes.append(UInt8(bitPattern: char))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
