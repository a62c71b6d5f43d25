import BulkheadProtocol

/// Keeps argument values out of audit records.
///
/// Records carry the arguments only as a digest, but failure messages are
/// written for the caller and often quote what it sent: a path that was not
/// found, an unknown key, the number that was out of range. In the record such
/// quotes become `[argument]`, so the trail never holds an argument's value
/// even when a plugin's message does.
enum AuditRedaction {
    static let placeholder = "[argument]"
    /// Longest message a record keeps, in bytes.
    static let maxMessageBytes = 1024

    static func message(_ text: String, arguments: JSONObject?) -> String {
        var out = text
        // The validator's "(got 50)", "(got a string)": what the caller sent.
        out = replacingGot(out)
        if let arguments {
            var quoted: [String] = []
            var bare: [String] = []
            collect(.object(arguments), quoted: &quoted, bare: &bare)
            // Longest first, so that a value containing another is replaced whole.
            for v in Set(quoted).sorted(by: { $0.utf8.count > $1.utf8.count }) {
                out = out.replacing("'\(v)'", with: "'\(placeholder)'")
                out = out.replacing("\"\(v)\"", with: "\"\(placeholder)\"")
            }
            for v in Set(bare).sorted(by: { $0.utf8.count > $1.utf8.count }) {
                out = out.replacing(v, with: placeholder)
            }
        }
        if out.utf8.count > maxMessageBytes {
            var end = out.utf8.index(out.utf8.startIndex, offsetBy: maxMessageBytes)
            while end > out.utf8.startIndex && !out.unicodeScalars.indices.contains(end) { end = out.utf8.index(before: end) }
            out = String(out[..<end]) + "…"
        }
        return out
    }

    /// Every key and string value at any depth: quoted forms of all, bare forms of those long enough
    /// not to be ordinary words of the message.
    private static func collect(_ value: JSONValue, quoted: inout [String], bare: inout [String]) {
        switch value {
        case .string(let s):
            guard !s.isEmpty else { return }
            quoted.append(s)
            if s.utf8.count >= 4 { bare.append(s) }
        case .array(let items):
            for item in items { collect(item, quoted: &quoted, bare: &bare) }
        case .object(let o):
            for (k, v) in o {
                if !k.isEmpty { quoted.append(k) }
                collect(v, quoted: &quoted, bare: &bare)
            }
        default:
            break
        }
    }

    private static func replacingGot(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: "(got ") {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            if let close = rest.firstIndex(of: ")") {
                out += placeholder
                rest = rest[close...]
            }
        }
        return out + rest
    }
}
