/// Byte-wise parsing of `/proc`-style `key : value` texts.
///
/// Works on `[UInt8]` rather than `String.split` so the Embedded build needs no Unicode
/// tables.
@usableFromInline
internal struct ProcText {
    @usableFromInline internal let bytes: [UInt8]

    @usableFromInline
    internal init(_ bytes: [UInt8]) { self.bytes = bytes }

    static let newline = UInt8(ascii: "\n")
    static let colon = UInt8(ascii: ":")

    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    /// The trimmed value of the first line whose key (the text before `:`, trailing blanks
    /// removed) equals `key` exactly.
    func value(of key: String) -> [UInt8]? {
        let keyBytes = Array(key.utf8)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != ProcText.newline { lineEnd += 1 }
            if let found = match(keyBytes, lineStart, lineEnd) { return found }
            lineStart = lineEnd + 1
        }
        return nil
    }

    private func match(_ key: [UInt8], _ start: Int, _ end: Int) -> [UInt8]? {
        guard end - start > key.count else { return nil }
        for index in 0..<key.count where bytes[start + index] != key[index] { return nil }
        var cursor = start + key.count
        while cursor < end && ProcText.isBlank(bytes[cursor]) { cursor += 1 }
        guard cursor < end && bytes[cursor] == ProcText.colon else { return nil }
        cursor += 1
        while cursor < end && ProcText.isBlank(bytes[cursor]) { cursor += 1 }
        var last = end
        while last > cursor && ProcText.isBlank(bytes[last - 1]) { last -= 1 }
        return Array(bytes[cursor..<last])
    }

    /// ``value(of:)`` decoded as UTF-8.
    func string(of key: String) -> String? {
        guard let value = value(of: key) else { return nil }
        return String(decoding: value, as: UTF8.self)
    }

    /// Whether `word` occurs in `text` as a whole blank-separated token.
    static func containsWord(_ word: String, in text: [UInt8]) -> Bool {
        let target = Array(word.utf8)
        var index = 0
        while index < text.count {
            while index < text.count && isBlank(text[index]) { index += 1 }
            let start = index
            while index < text.count && !isBlank(text[index]) && text[index] != newline {
                index += 1
            }
            if index - start == target.count {
                var equal = true
                for offset in 0..<target.count where text[start + offset] != target[offset] {
                    equal = false
                    break
                }
                if equal { return true }
            }
            if index < text.count && text[index] == newline { index += 1 }
        }
        return false
    }

    /// Every run of decimal digits in `text`, as integers (saturating, never trapping).
    static func integers(in text: [UInt8]) -> [Int] {
        var result: [Int] = []
        var current = 0
        var inNumber = false
        for byte in text {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                let (times, o1) = current.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                current = o1 || o2 ? Int.max : sum
                inNumber = true
            } else if inNumber {
                result.append(current)
                current = 0
                inNumber = false
            }
        }
        if inNumber { result.append(current) }
        return result
    }

    /// The first integer in `text`, if any.
    static func firstInteger(_ text: [UInt8]) -> Int? { integers(in: text).first }

    /// The word between `[` and `]` (THP's `always [madvise] never`), or `""`.
    static func bracketedWord(in text: [UInt8]) -> String {
        guard let open = text.firstIndex(of: UInt8(ascii: "[")) else { return "" }
        guard let close = text[open...].firstIndex(of: UInt8(ascii: "]")) else { return "" }
        return String(decoding: text[(open + 1)..<close], as: UTF8.self)
    }
}
