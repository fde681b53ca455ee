import OffHeap
import Testing

private let x86CPUInfo = """
    processor\t: 0
    vendor_id\t: GenuineIntel
    model name\t: Intel(R) Xeon(R) Platinum 8480+
    flags\t\t: fpu vme de pse tsc msr pae la57x lm pku
    address sizes\t: 46 bits physical, 57 bits virtual

    processor\t: 1
    model name\t: Other CPU
    flags\t\t: fpu la57
    """

private let x86LA57CPUInfo = """
    processor\t: 0
    model name\t: Intel(R) Xeon(R) Gold 6338
    flags\t\t: fpu vme la57 pku
    address sizes\t: 52 bits physical, 57 bits virtual
    """

private let armCPUInfo = """
    processor\t: 0
    BogoMIPS\t: 50.00
    Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
    CPU implementer\t: 0x41
    CPU architecture: 8
    CPU part\t: 0xd0c
    """

private let meminfo = """
    MemTotal:       16384000 kB
    HugePages_Total:      64
    HugePages_Free:       64
    Hugepagesize:       2048 kB
    Hugetlb:          131072 kB
    """

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("AddressSpaceProbe")
struct AddressSpaceProbeTests {
    @Test func parsesAFourLevelX86Machine() {
        let report = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: bytes(x86CPUInfo), meminfo: bytes(meminfo),
                transparentHugePageEnabled: bytes("always [madvise] never\n"),
                machine: "x86_64", kernelRelease: "6.1.0-18-amd64",
                hintedMappingAddress: 0x7F12_3456_7000, defaultMappingAddress: 0x7F00_0000_0000,
                pageSize: 4096, transparentHugePageSize: 2 << 20, onlineCPUs: 2))
        #expect(report.architecture == "x86_64")
        #expect(report.kernelRelease == "6.1.0-18-amd64")
        #expect(report.cpuModel == "Intel(R) Xeon(R) Platinum 8480+")
        // Only the first processor's flags count, and only whole words: "la57x" is not la57.
        #expect(report.la57Flag == false)
        #expect(report.cpuPhysicalAddressBits == 46)
        #expect(report.cpuVirtualAddressBits == 57)
        #expect(report.hugeTLBPagesTotal == 64)
        #expect(report.hugeTLBPageSize == 2 << 20)
        #expect(report.transparentHugePageMode == "madvise")
        #expect(report.transparentHugePageSize == 2 << 20)
        #expect(report.onlineCPUs == 2)
        #expect(report.la57Active == false)
        #expect(report.highAddressesGranted == false)
        #expect(report.userAddressBits == 47)
        #expect(report.effectiveVABits == 48)
        #expect(report.hintAddress == 1 << 52)
        #expect(report.hintedMappingAddress == 0x7F12_3456_7000)
    }

    @Test func highHintedAddressMeansLA57Active() {
        let report = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: bytes(x86LA57CPUInfo), meminfo: bytes(meminfo),
                transparentHugePageEnabled: bytes("[always] madvise never"),
                machine: "x86_64", kernelRelease: "6.8.0",
                hintedMappingAddress: 1 << 52, defaultMappingAddress: 0x7FFF_0000_0000))
        #expect(report.la57Flag)
        #expect(report.la57Active)
        #expect(report.highAddressesGranted)
        #expect(report.effectiveVABits == 57)
        #expect(report.userAddressBits == 53)
        #expect(report.transparentHugePageMode == "always")
        #expect(report.render().contains("la57 active             yes"))
    }

    @Test func la57FlagWithoutHighAddressIsReportedAsInactive() {
        let report = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: bytes(x86LA57CPUInfo), meminfo: [], transparentHugePageEnabled: [],
                machine: "x86_64", kernelRelease: "5.4", hintedMappingAddress: 0x7FFF_F000_0000))
        #expect(report.la57Flag)
        #expect(!report.la57Active)
        #expect(report.effectiveVABits == 48)
        #expect(report.render().contains("4-level paging"))
    }

    @Test func aarch64ReportsVABitsInsteadOfAFlag() {
        let wide = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: bytes(armCPUInfo), meminfo: bytes(meminfo),
                transparentHugePageEnabled: bytes("always madvise [never]"),
                machine: "aarch64", kernelRelease: "6.6.0", hintAddress: 1 << 51,
                hintedMappingAddress: 1 << 51, defaultMappingAddress: 0xFFFF_8000_0000,
                pageSize: 16384))
        #expect(!wide.la57Flag)
        #expect(!wide.la57Active)
        #expect(wide.highAddressesGranted)
        #expect(wide.effectiveVABits == 52)
        #expect(wide.cpuModel == "implementer 0x41, part 0xd0c")
        #expect(wide.cpuVirtualAddressBits == 0)
        #expect(wide.transparentHugePageMode == "never")
        #expect(wide.render().contains("n/a on aarch64"))

        let narrow = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: bytes(armCPUInfo), meminfo: [], transparentHugePageEnabled: [],
                machine: "aarch64", kernelRelease: "6.6.0", hintedMappingAddress: 0,
                defaultMappingAddress: 0x7F_8000_0000))
        #expect(!narrow.highAddressesGranted)
        #expect(narrow.effectiveVABits == 39)
        #expect(narrow.render().contains("refused"))
    }

    @Test func skippedHintExperimentIsReported() {
        let report = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: bytes(x86CPUInfo), meminfo: [], transparentHugePageEnabled: [],
                machine: "x86_64", kernelRelease: "6.1", hintedMappingAddress: 0,
                hintExperimentRan: false, defaultMappingAddress: 0x7FFF_0000_0000))
        #expect(!report.hintExperimentRan)
        #expect(!report.la57Active)
        #expect(report.render().contains("skipped"))
    }

    @Test func emptyOrGarbageInputsGiveUnknownsNotCrashes() {
        let garbage: [UInt8] = [0xFF, 0x3A, 0x0A, 0x3A, 0x3A, 0x5B, 0x00, 0x0A]
        let report = AddressSpaceProbe.analyze(
            inputs: .init(
                cpuinfo: garbage, meminfo: bytes("HugePages_Total: 99999999999999999999999\n"),
                transparentHugePageEnabled: bytes("[unterminated"), machine: "", kernelRelease: "",
                hintedMappingAddress: 0))
        #expect(report.cpuModel == "")
        #expect(report.hugeTLBPagesTotal == Int.max)
        #expect(report.transparentHugePageMode == "")
        #expect(report.userAddressBits == 0)
        #expect(!report.render().isEmpty)
    }

    @Test func liveProbeOfThisMachineIsConsistent() {
        let report = AddressSpaceProbe.run()
        #expect(!report.architecture.isEmpty)
        #expect(!report.kernelRelease.isEmpty)
        #expect(report.onlineCPUs >= 1)
        #expect(report.pageSize == VirtualMemory.pageSize)
        #expect(report.transparentHugePageSize == (VirtualMemory.hugePageSize ?? 0))
        #expect(report.defaultMappingAddress != 0)
        // Whatever the hardware, the verdict follows from where the hinted page landed.
        #expect(report.la57Active == (report.architecture == "x86_64"
            && report.hintedMappingAddress >= 1 << 47))
        if report.architecture == "x86_64" {
            #expect(report.effectiveVABits == (report.la57Active ? 57 : 48))
            #expect(report.cpuVirtualAddressBits >= 48)
        }
        #expect(report.userAddressBits >= 32)
        if report.hintExperimentRan {
            // Linux either honours the hint exactly or places the page elsewhere; it never
            // reports success without a mapping.
            #expect(report.hintedMappingAddress != 0)
        }
        #expect(report.render().contains("effective VA bits"))
        // The experiment unmapped its pages: running it again gets the same answer.
        #expect(AddressSpaceProbe.run().la57Active == report.la57Active)
    }
}
