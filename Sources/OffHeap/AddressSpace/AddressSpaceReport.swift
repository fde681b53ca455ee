/// What ``AddressSpaceProbe`` found out about the machine's virtual address space.
///
/// Plain values only (Bool, Int, String), so the hosted reports module can encode it and the
/// Embedded build can print it. Unknown numbers are `0`, unknown texts are `""`.
///
/// ```swift
/// let report = AddressSpaceProbe.run()
/// if report.la57Active { print("user addresses above 2^47 are in use") }
/// print(report.render())
/// ```
package struct AddressSpaceReport: Sendable, Equatable {
    /// `uname` machine: `x86_64`, `aarch64`, …
    package var architecture: String
    /// `uname` release.
    package var kernelRelease: String
    /// `/proc/cpuinfo` "model name" (x86), else "Hardware" or "CPU implementer/part" (Arm).
    package var cpuModel: String
    /// Online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`).
    package var onlineCPUs: Int
    /// Base page size in bytes.
    package var pageSize: Int
    /// Transparent huge page size in bytes (`hpage_pmd_size`); 0 when THP is unavailable.
    package var transparentHugePageSize: Int
    /// The bracketed word of `/sys/kernel/mm/transparent_hugepage/enabled`
    /// (`always`, `madvise`, `never`); `""` when unavailable.
    package var transparentHugePageMode: String
    /// `HugePages_Total` of `/proc/meminfo`: explicit huge pages reserved for `MAP_HUGETLB`.
    package var hugeTLBPagesTotal: Int
    /// `Hugepagesize` of `/proc/meminfo`, in bytes.
    package var hugeTLBPageSize: Int
    /// Whether the CPU advertises 5-level paging (`la57` in the x86 `flags`). Always `false`
    /// on other architectures: aarch64 has no such flag; see ``effectiveVABits``.
    package var la57Flag: Bool
    /// Virtual address bits the CPU reports (x86 "address sizes"); 0 when not reported. A
    /// hypervisor may report 57 while hiding `la57`: the kernel then still uses 4 levels.
    package var cpuVirtualAddressBits: Int
    /// Physical address bits the CPU reports (x86 "address sizes"); 0 when not reported.
    package var cpuPhysicalAddressBits: Int
    /// The address the hint experiment asked for.
    package var hintAddress: Int
    /// Where the hinted mapping landed (the highest of the attempts); 0 when every attempt
    /// was refused.
    package var hintedMappingAddress: Int
    /// Whether the hint experiment ran; it is skipped under ThreadSanitizer (whose mmap
    /// interceptor drops high hints), and then the verdicts below assume a narrow space.
    package var hintExperimentRan: Bool
    /// Where an ordinary, unhinted mapping landed.
    package var defaultMappingAddress: Int
    /// Whether the kernel granted a user address above the classic limit of the
    /// architecture (2^47 on x86-64, 2^48 on aarch64 and others).
    package var highAddressesGranted: Bool
    /// x86-64 only: the kernel runs 5-level paging for this process (a hinted mapping
    /// landed at or above 2^47).
    package var la57Active: Bool
    /// Bits in the highest user address obtained (hinted or default).
    package var userAddressBits: Int
    /// Virtual address bits in effect for this process: 57 or 48 on x86-64 (from the hint
    /// experiment, not from cpuinfo), the user address width elsewhere (aarch64: 39/42/48/52).
    package var effectiveVABits: Int

    package init(
        architecture: String, kernelRelease: String, cpuModel: String, onlineCPUs: Int,
        pageSize: Int, transparentHugePageSize: Int, transparentHugePageMode: String,
        hugeTLBPagesTotal: Int, hugeTLBPageSize: Int, la57Flag: Bool,
        cpuVirtualAddressBits: Int, cpuPhysicalAddressBits: Int, hintAddress: Int,
        hintedMappingAddress: Int, defaultMappingAddress: Int, hintExperimentRan: Bool,
        highAddressesGranted: Bool,
        la57Active: Bool, userAddressBits: Int, effectiveVABits: Int
    ) {
        self.architecture = architecture
        self.kernelRelease = kernelRelease
        self.cpuModel = cpuModel
        self.onlineCPUs = onlineCPUs
        self.pageSize = pageSize
        self.transparentHugePageSize = transparentHugePageSize
        self.transparentHugePageMode = transparentHugePageMode
        self.hugeTLBPagesTotal = hugeTLBPagesTotal
        self.hugeTLBPageSize = hugeTLBPageSize
        self.la57Flag = la57Flag
        self.cpuVirtualAddressBits = cpuVirtualAddressBits
        self.cpuPhysicalAddressBits = cpuPhysicalAddressBits
        self.hintAddress = hintAddress
        self.hintedMappingAddress = hintedMappingAddress
        self.defaultMappingAddress = defaultMappingAddress
        self.hintExperimentRan = hintExperimentRan
        self.highAddressesGranted = highAddressesGranted
        self.la57Active = la57Active
        self.userAddressBits = userAddressBits
        self.effectiveVABits = effectiveVABits
    }
}

extension AddressSpaceReport {
    /// Field-by-field equality. Written out so texts compare as UTF-8 bytes: the synthesised
    /// `String ==` pulls Unicode normalisation tables into the Embedded aarch64 link.
    package static func == (lhs: AddressSpaceReport, rhs: AddressSpaceReport) -> Bool {
        lhs.architecture.utf8.elementsEqual(rhs.architecture.utf8)
            && lhs.kernelRelease.utf8.elementsEqual(rhs.kernelRelease.utf8)
            && lhs.cpuModel.utf8.elementsEqual(rhs.cpuModel.utf8)
            && lhs.transparentHugePageMode.utf8.elementsEqual(rhs.transparentHugePageMode.utf8)
            && lhs.onlineCPUs == rhs.onlineCPUs && lhs.pageSize == rhs.pageSize
            && lhs.transparentHugePageSize == rhs.transparentHugePageSize
            && lhs.hugeTLBPagesTotal == rhs.hugeTLBPagesTotal
            && lhs.hugeTLBPageSize == rhs.hugeTLBPageSize && lhs.la57Flag == rhs.la57Flag
            && lhs.cpuVirtualAddressBits == rhs.cpuVirtualAddressBits
            && lhs.cpuPhysicalAddressBits == rhs.cpuPhysicalAddressBits
            && lhs.hintAddress == rhs.hintAddress
            && lhs.hintedMappingAddress == rhs.hintedMappingAddress
            && lhs.defaultMappingAddress == rhs.defaultMappingAddress
            && lhs.hintExperimentRan == rhs.hintExperimentRan
            && lhs.highAddressesGranted == rhs.highAddressesGranted
            && lhs.la57Active == rhs.la57Active && lhs.userAddressBits == rhs.userAddressBits
            && lhs.effectiveVABits == rhs.effectiveVABits
    }

    /// A human-readable summary, one fact per line (what `offheap probe` prints).
    ///
    /// ```swift
    /// print(AddressSpaceProbe.run().render())
    /// ```
    package func render() -> String {
        var out = ""
        func line(_ label: String, _ value: String) {
            var padded = label
            while padded.utf8.count < 24 { padded += " " }
            out += padded + value + "\n"
        }
        func yesNo(_ flag: Bool) -> String { flag ? "yes" : "no" }
        line("architecture", architecture)
        line("kernel release", kernelRelease)
        line("cpu model", cpuModel.isEmpty ? "unknown" : cpuModel)
        line("online cpus", "\(onlineCPUs)")
        line("page size", "\(pageSize) bytes")
        line(
            "transparent huge pages",
            transparentHugePageSize > 0
                ? "\(transparentHugePageSize) bytes, mode \(transparentHugePageMode.isEmpty ? "unknown" : transparentHugePageMode)"
                : "unavailable")
        line("hugetlb pages", "\(hugeTLBPagesTotal) reserved of \(hugeTLBPageSize) bytes")
        let isX86 = AddressSpaceProbe.isX86(architecture)
        if isX86 {
            line("la57 cpu flag", yesNo(la57Flag))
        } else {
            line("la57 cpu flag", "n/a on \(architecture)")
        }
        line(
            "cpu address sizes",
            cpuVirtualAddressBits > 0
                ? "\(cpuPhysicalAddressBits) bits physical, \(cpuVirtualAddressBits) bits virtual"
                : "not reported")
        if !hintExperimentRan {
            line("hint experiment", "skipped (ThreadSanitizer drops high mmap hints)")
        } else {
            line(
                "hint experiment",
                "asked 0x\(String(UInt(bitPattern: hintAddress), radix: 16)), got "
                    + (hintedMappingAddress == 0
                        ? "refused" : "0x\(String(UInt(bitPattern: hintedMappingAddress), radix: 16))"))
        }
        line("default mapping", "0x\(String(UInt(bitPattern: defaultMappingAddress), radix: 16))")
        line("high addresses granted", yesNo(highAddressesGranted))
        if isX86 { line("la57 active", yesNo(la57Active)) }
        line("user address bits", "\(userAddressBits)")
        line("effective VA bits", "\(effectiveVABits)")
        if la57Flag != la57Active && isX86 {
            line("note", la57Flag
                ? "cpu has la57 but the kernel gave no high address (4-level paging)"
                : "high address without the la57 flag")
        }
        if cpuVirtualAddressBits > 0 && cpuVirtualAddressBits != effectiveVABits {
            line(
                "note",
                "cpu reports \(cpuVirtualAddressBits) virtual bits; the kernel uses \(effectiveVABits)")
        }
        return out
    }
}
