import COffHeapHostShims
import COffHeapShims
import OffHeap

/// What a run document records about the machine: architecture, CPU, cores, kernel and the
/// address-space facts that decide pointer encodings (VA bits, LA57, page sizes).
/// Read from uname, sysconf, /proc and /sys — the same code in the hosted and Embedded
/// builds.
///
/// ```swift
/// let machine = MachineFacts.current()
/// print(machine.arch, machine.cores, machine.virtualAddressBits)
/// ```
public struct MachineFacts: Equatable, Sendable {
    /// `x86_64` or `aarch64` (the architecture this binary was built for).
    public var arch: String
    /// Whether the binary runs under an emulator (QEMU user mode): the build architecture
    /// differs from the CPU described by /proc/cpuinfo, or `OFFHEAP_EMULATED=1`.
    public var emulated: Bool
    public var cpuModel: String
    public var cores: Int
    public var kernel: String
    public var pageSize: Int
    public var hugePageSize: Int
    /// User virtual address bits in effect (``AddressSpaceReport/effectiveVABits``).
    public var virtualAddressBits: Int
    /// Virtual address bits the CPU reports in /proc/cpuinfo (`address sizes`; 0 if absent).
    /// A CPU can report 57 while the kernel runs 4-level paging.
    public var cpuVirtualAddressBits: Int
    /// Whether this process runs with 5-level paging (``AddressSpaceReport/la57Active``).
    public var la57: Bool
    /// The bracketed mode of /sys/kernel/mm/transparent_hugepage/enabled, or "".
    public var transparentHugePages: String
    /// HugePages_Total from /proc/meminfo (pre-allocated hugetlbfs pages).
    public var hugePagesTotal: Int
    /// Whether the CPU flags list `la57` (the kernel may still run 4-level paging).
    public var la57Flag = false
    /// Whether the probe's hinted mmap landed above the architecture's classic limit.
    public var highAddressesGranted = false
    /// Bits of the highest user address the probe obtained.
    public var userAddressBits = 0

    public init(
        arch: String, emulated: Bool, cpuModel: String, cores: Int, kernel: String,
        pageSize: Int, hugePageSize: Int, virtualAddressBits: Int, cpuVirtualAddressBits: Int,
        la57: Bool,
        transparentHugePages: String, hugePagesTotal: Int
    ) {
        self.arch = arch
        self.emulated = emulated
        self.cpuModel = cpuModel
        self.cores = cores
        self.kernel = kernel
        self.pageSize = pageSize
        self.hugePageSize = hugePageSize
        self.virtualAddressBits = virtualAddressBits
        self.cpuVirtualAddressBits = cpuVirtualAddressBits
        self.la57 = la57
        self.transparentHugePages = transparentHugePages
        self.hugePagesTotal = hugePagesTotal
    }

    /// The architecture this binary was compiled for.
    public static var buildArch: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return "unknown"
        #endif
    }

    /// Reads the facts of the running machine: ``AddressSpaceProbe`` (VA bits from its mmap
    /// hint experiment, LA57, page sizes, CPU) plus the emulation check.
    public static func current() -> MachineFacts {
        let probe = AddressSpaceProbe.run()
        let cpuinfo = TextFile.read("/proc/cpuinfo", capacity: 32 << 10)
        let hostIsX86 = !TextFile.value(of: "vendor_id", in: cpuinfo).isEmpty
        let build = buildArch
        var emulated = (build == "aarch64" && hostIsX86)
        if let flag = TextFile.environment("OFFHEAP_EMULATED") { emulated = flag == "1" }
        var facts = MachineFacts(
            arch: build, emulated: emulated,
            cpuModel: probe.cpuModel.isEmpty ? "unknown" : probe.cpuModel,
            cores: probe.onlineCPUs, kernel: probe.kernelRelease.isEmpty ? "unknown" : probe.kernelRelease,
            pageSize: probe.pageSize, hugePageSize: probe.transparentHugePageSize,
            virtualAddressBits: probe.effectiveVABits,
            cpuVirtualAddressBits: probe.cpuVirtualAddressBits, la57: probe.la57Active,
            transparentHugePages: probe.transparentHugePageMode,
            hugePagesTotal: probe.hugeTLBPagesTotal)
        facts.la57Flag = probe.la57Flag
        facts.highAddressesGranted = probe.highAddressesGranted
        facts.userAddressBits = probe.userAddressBits
        return facts
    }
}

/// Byte-level helpers for /proc text (no Foundation, no Unicode tables needed).
enum TextFile {
    static func read(_ path: String, capacity: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var path = path
        let count = path.withUTF8 { utf8 -> Int in
            var cPath = [CChar](repeating: 0, count: utf8.count + 1)
            for (i, byte) in utf8.enumerated() { cPath[i] = CChar(bitPattern: byte) }
            return buffer.withUnsafeMutableBytes { raw in
                offheap_read_file(cPath, raw.baseAddress!, capacity)
            }
        }
        return count > 0 ? Array(buffer[0..<count]) : []
    }

    static func string<C: Collection>(bytes: C) -> String where C.Element == UInt8 {
        String(decoding: Array(bytes), as: UTF8.self)
    }

    static func string(cString: [CChar]) -> String {
        var bytes: [UInt8] = []
        for c in cString {
            if c == 0 { break }
            bytes.append(UInt8(bitPattern: c))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The trimmed text after `key<spaces/tabs>:` on the first line starting with `key`.
    static func value(of key: String, in text: [UInt8]) -> String {
        let keyBytes = Array(key.utf8)
        var lineStart = 0
        while lineStart < text.count {
            var lineEnd = lineStart
            while lineEnd < text.count, text[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            if lineEnd - lineStart >= keyBytes.count,
                Array(text[lineStart..<(lineStart + keyBytes.count)]) == keyBytes
            {
                var i = lineStart + keyBytes.count
                while i < lineEnd, text[i] == UInt8(ascii: " ") || text[i] == UInt8(ascii: "\t") { i += 1 }
                if i < lineEnd, text[i] == UInt8(ascii: ":") {
                    i += 1
                    while i < lineEnd, text[i] == UInt8(ascii: " ") { i += 1 }
                    var end = lineEnd
                    while end > i, text[end - 1] == UInt8(ascii: " ") { end -= 1 }
                    return string(bytes: text[i..<end])
                }
            }
            lineStart = lineEnd + 1
        }
        return ""
    }

    static func containsWord(_ word: String, in text: String) -> Bool {
        for part in text.utf8.split(separator: UInt8(ascii: " ")) where Array(part) == Array(word.utf8) {
            return true
        }
        return false
    }

    /// The first run of decimal digits in `text` (after leading spaces), if any.
    static func leadingInteger(_ text: Substring) -> Int? {
        var value = 0
        var seen = false
        for byte in text.utf8 {
            if byte >= 48, byte <= 57 {
                value = value &* 10 &+ Int(byte - 48)
                seen = true
            } else if seen || byte != UInt8(ascii: " ") {
                break
            }
        }
        return seen ? value : nil
    }

    static func environment(_ name: String) -> String? {
        var cName = [CChar]()
        for byte in name.utf8 { cName.append(CChar(bitPattern: byte)) }
        cName.append(0)
        guard let value = offheap_getenv(cName) else { return nil }
        var bytes: [UInt8] = []
        var p = value
        while p.pointee != 0 {
            bytes.append(UInt8(bitPattern: p.pointee))
            p += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
