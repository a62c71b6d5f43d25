/// Compact JSON output written straight into a byte buffer.
///
/// The output is what the wire needs and nothing more: no whitespace, object
/// members in their stored order, non-ASCII text kept as UTF-8, `/` left
/// unescaped, only `"`, `\` and control characters escaped, doubles in their
/// shortest round-trip form and non-finite doubles as `null` (JSON has no
/// spelling for them).
extension JSONValue {
    /// Appends this value's compact JSON text to `out`.
    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .null: out.appendLiteral("null")
        case .bool(let b): out.appendLiteral(b ? "true" : "false")
        case .int(let i): JSONOutput.writeInteger(i, into: &out)
        case .double(let d): JSONOutput.writeDouble(d, into: &out)
        case .string(let s): JSONOutput.writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                element.serialize(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            object.serialize(into: &out)
        }
    }

    /// This value's compact JSON text.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        serialize(into: &out)
        return out
    }
}

extension JSONObject {
    /// Appends this object's compact JSON text to `out`, members in order.
    public func serialize(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in members {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONOutput.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            value.serialize(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends the members only, without braces, each preceded by a comma:
    /// for writers that splice extra members into an object they are building.
    func serializeMembers(into out: inout [UInt8], skipping skippedKey: String? = nil) {
        for (key, value) in members where key != skippedKey {
            out.append(UInt8(ascii: ","))
            JSONOutput.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            value.serialize(into: &out)
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends the bytes of a literal with one copy.
    @inline(__always)
    mutating func appendLiteral(_ literal: StaticString) {
        literal.withUTF8Buffer { append(contentsOf: $0) }
    }
}

/// The primitive writers behind ``JSONValue/serialize(into:)``, also used by the
/// protocol layer to write envelopes without building intermediate values.
enum JSONOutput {
    /// Writes `s` as a JSON string literal.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { writeStringBytes($0, into: &out) }
        if done == nil {
            // Not stored contiguously (e.g. bridged): copy once, then write.
            let bytes = Array(s.utf8)
            bytes.withUnsafeBufferPointer { writeStringBytes($0, into: &out) }
        }
    }

    /// Writes UTF-8 text as a JSON string literal, escaping only what JSON requires.
    static func writeStringBytes(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if i > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            out.append(UInt8(ascii: "\\"))
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigit(b >> 4))
                out.append(hexDigit(b & 0x0F))
            }
            i += 1
            runStart = i
        }
        if n > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
        out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10
    }

    /// Writes a decimal integer without going through `String`.
    static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value >= 0 && value < 10 {
            out.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var at = 20
            repeat {
                at -= 1
                digits[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { out.append(UInt8(ascii: "-")) }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[at..<20]))
        }
    }

    /// Writes a double in its shortest round-trip form; non-finite values become `null`.
    static func writeDouble(_ value: Double, into out: inout [UInt8]) {
        guard value.isFinite else {
            out.appendLiteral("null")
            return
        }
        // Swift's description is the shortest text that reads back to the same
        // double, and always valid JSON for finite values ("1.0", "1e-05", "1e+20").
        out.append(contentsOf: value.description.utf8)
    }
}
