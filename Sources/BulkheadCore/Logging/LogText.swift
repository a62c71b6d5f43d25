/// Text that reaches the operator's log from somewhere the core does not
/// control (a plugin's host->log, a client's tool name, a path): made to fit
/// on one line, so that it can never start a line of its own and pass for
/// one the core wrote.
public enum LogText {
    /// The most a plugin's log message may take once escaped, in bytes.
    public static let pluginMessageLimit = 4096

    /// `text` with every character that could break or disguise a line
    /// escaped: C0 and C1 controls and DEL (`\n`, `\r`, `\t`, else `\u{…}`),
    /// the Unicode line and paragraph separators, and the bidirectional
    /// overrides that can make a line read differently from what it holds.
    /// Backslashes are left alone, so escaping twice changes nothing.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars { append(scalar, to: &out) }
        return out
    }

    /// `escaped(text)` cut to at most `limit` bytes (on a character boundary),
    /// followed by a marker saying how many bytes of the original were cut.
    public static func escaped(_ text: String, limit: Int) -> String {
        let total = text.utf8.count
        if total <= limit && !text.unicodeScalars.contains(where: needsEscape) { return text }
        var out = ""
        var written = 0
        var consumed = 0
        for scalar in text.unicodeScalars {
            var piece = ""
            append(scalar, to: &piece)
            let size = piece.utf8.count
            if written + size > limit {
                return out + " …[cut \(total - consumed) of \(total) bytes]"
            }
            out += piece
            written += size
            consumed += UTF8.width(scalar)
        }
        return out
    }

    /// `text` cut to at most `bytes` UTF-8 bytes, on a character boundary. For
    /// text that travels as JSON (a client's log line, a progress message),
    /// where escaping is the serializer's job.
    public static func cut(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var out = ""
        var written = 0
        for scalar in text.unicodeScalars {
            let width = UTF8.width(scalar)
            if written + width > bytes { break }
            out.unicodeScalars.append(scalar)
            written += width
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x2028, 0x2029: true
        case 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    private static func append(_ s: Unicode.Scalar, to out: inout String) {
        guard needsEscape(s) else {
            out.unicodeScalars.append(s)
            return
        }
        switch s {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out += "\\u{" + String(s.value, radix: 16) + "}"
        }
    }
}
