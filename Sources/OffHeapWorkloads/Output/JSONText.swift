/// A minimal JSON writer (no Foundation, no Codable) so the Embedded engine writes the same
/// documents as the hosted CLI. Numbers: integers exactly, doubles in fixed notation with up
/// to six decimals (non-finite → `null`).
///
/// ```swift
/// var json = JSONText()
/// json.beginObject()
/// json.key("ok"); json.bool(true)
/// json.endObject()
/// // json.text == "{\"ok\":true}"
/// ```
public struct JSONText: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next value in the current container needs a comma first.
    var needsComma = false

    public init() {}

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes `"name":`; the value call that follows adds no comma.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        separate()
        appendQuoted(value)
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? Array("true".utf8) : Array("false".utf8))
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: Array("null".utf8))
    }

    public mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: Array("\(value)".utf8))
    }

    public mutating func uint(_ value: UInt64) {
        separate()
        bytes.append(contentsOf: Array("\(value)".utf8))
    }

    public mutating func double(_ value: Double) {
        separate()
        bytes.append(contentsOf: Array(JSONText.format(value).utf8))
    }

    /// Fixed notation with up to six decimals, trailing zeros trimmed (`12.5`, `0.000125`).
    public static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        var v = value
        var sign = ""
        if v < 0 {
            sign = "-"
            v = -v
        }
        if v >= 9.0e18 { return sign + "\(UInt64(9_000_000_000_000_000_000))" }
        var whole = UInt64(v)
        var micros = UInt64(((v - Double(whole)) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            whole += 1
            micros -= 1_000_000
        }
        if micros == 0 { return sign + "\(whole)" }
        var digits = Array("\(micros)".utf8)
        while digits.count < 6 { digits.insert(UInt8(ascii: "0"), at: 0) }
        while digits.last == UInt8(ascii: "0") { digits.removeLast() }
        return sign + "\(whole)." + String(decoding: digits, as: UTF8.self)
    }

    mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 15)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
