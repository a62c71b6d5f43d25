import BulkheadProtocol

/// The question a human answers before a write runs: the call, shown so
/// that what they approve is exactly what will run.
///
/// Every argument is shown whole — a cut would let the end of a long value be
/// approved unseen. The size is already bounded by the policy's
/// `argument_bytes`, checked before anyone is asked.
///
/// No argument can fake the layout of the question: text is in quotes, and
/// every character that could break a line, reorder what is displayed, hide,
/// or pass for a plain space is written as an escape (`\n`, `\u{202E}`), in
/// keys as well as values. A backslash and a quote are escaped too, so the
/// rendering reads back to exactly one string.
enum ConsentRendering {
    /// The elicitation message, the same in both eras.
    static func message(tool: String, principal: Principal, arguments: JSONObject) -> String {
        var lines = ["\(name(tool)) wants to make a change on behalf of \(name(principal.name)) (tenant \(name(principal.tenant))).", ""]
        if arguments.isEmpty { lines.append("(no arguments)") }
        for (key, value) in arguments {
            lines.append("\(name(key)): \(render(value))")
        }
        lines += [
            "",
            #"Every argument is shown whole. Text is in quotes; \n, \r, \t, \", \\ and \u{…} stand for line breaks, tabs, quotes, backslashes and hidden, control or direction characters."#,
            "Allow this exact change?",
        ]
        return lines.joined(separator: "\n")
    }

    /// One argument value: strings quoted and escaped, containers as JSON with the same strings.
    static func render(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return quoted(s)
        case .array(let items): return "[" + items.map(render).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { "\(quoted($0.key)): \(render($0.value))" }.joined(separator: ", ") + "}"
        default: return String(decoding: value.serialized(), as: UTF8.self)
        }
    }

    /// A key, tool or principal name: bare when it is plain ASCII a reader cannot misread, else quoted.
    /// Bare names hold no space or colon, so no key can pass for a line of the question.
    static func name(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
            switch c {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".": true
            default: false
            }
        }
        return plain ? s : quoted(s)
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for c in s.unicodeScalars {
            switch c {
            case "\n": out += #"\n"#
            case "\r": out += #"\r"#
            case "\t": out += #"\t"#
            case "\\": out += #"\\"#
            case "\"": out += #"\""#
            default:
                if mustEscape(c) {
                    out += #"\u{"# + String(c.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
        return out
    }

    /// Characters a human cannot see for what they are.
    static func mustEscape(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        // C0, C1 and DEL; format characters (bidi embeddings, overrides and isolates,
        // LRM/RLM/ALM, zero-width characters, word joiner, BOM, soft hyphen, tags);
        // U+2028/U+2029 line breaks; and what has no agreed look at all.
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return true
        // Spaces other than U+0020 look like it but are not the same text.
        case .spaceSeparator:
            return c != " "
        default:
            break
        }
        // Invisible yet not "format": variation selectors, combining grapheme joiner,
        // Hangul fillers, Mongolian free variation selectors.
        if c.properties.isDefaultIgnorableCodePoint { return true }
        return c.value == 0x2800  // braille pattern blank: a letter-like character that draws nothing
    }
}
