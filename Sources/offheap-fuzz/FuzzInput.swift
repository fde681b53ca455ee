/// The fuzzer's input, read as a stream of decisions: every byte past the end reads as 0, so
/// any input (including the empty one) decodes to a valid operation sequence.
///
/// ```swift
/// var input = FuzzInput(bytes)
/// let capacity = 1 + Int(input.byte() % 200)
/// while !input.isAtEnd { … input.byte() … }
/// ```
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Whether every byte has been read.
    var isAtEnd: Bool { position >= bytes.count }

    /// The next byte, or 0 past the end.
    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// The next two bytes, little-endian.
    mutating func word() -> Int {
        let low = Int(byte())
        return low | Int(byte()) << 8
    }

    /// A value in `0 ..< count` (`count` > 0) from the next byte.
    mutating func pick(_ count: Int) -> Int { Int(byte()) % count }
}
