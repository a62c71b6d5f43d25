import ArgumentParser
import BulkheadCore
import BulkheadProtocol

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and search the audit trail that `serve --audit` (or [audit] path) writes.",
        subcommands: [Verify.self, Query.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that no record was changed, removed or inserted.",
            discussion: """
                Exit status: 0 when the chain is intact; 1 when a record was changed, removed
                or inserted (the first such line is named); 3 when the chain is intact but the
                file ends in a torn tail — bytes a crash left in the middle of a write, which
                the server sets aside the next time it starts; 2 when the file cannot be read.
                """)

        @Argument(help: ArgumentHelp("The audit log.", valueName: "file"))
        var file: String

        func run() throws {
            guard let verdict = AuditReader.verify(path: file) else {
                print("cannot read \(file)")
                throw ExitCode(2)
            }
            if let broken = verdict.broken {
                print("broken at line \(broken.line): \(broken.reason) (\(verdict.records) records before it are intact)")
                throw ExitCode(1)
            }
            let recovered = verdict.recovered == 0 ? "" : "; \(verdict.recovered) torn tail\(verdict.recovered == 1 ? "" : "s") recovered after a crash"
            if let torn = verdict.tornTail {
                print("torn tail after a crash at line \(torn.line): \(torn.bytes) bytes that are not a whole record; the \(verdict.records) records before it are intact\(recovered) (the server sets the fragment aside when it next starts)")
                throw ExitCode(3)
            }
            print("ok: \(verdict.records) records, the hash chain is intact\(recovered)")
        }
    }

    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the records that match, one line each (or as JSON lines).",
            discussion: """
                Text that callers or plugins chose (tool names, messages) is printed with
                control characters escaped, so no record can fake another line or reach the
                terminal as an escape sequence.
                """)

        @Argument(help: ArgumentHelp("The audit log.", valueName: "file"))
        var file: String

        @Option(help: "Only this principal.") var principal: String?
        @Option(help: "Only this tenant.") var tenant: String?
        @Option(help: "Only this plugin.") var plugin: String?
        @Option(help: "Only this tool, as served (<plugin>__<tool>).") var tool: String?
        @Option(help: "Only this outcome: ok, error, input_required, not_visible, unknown_tool.") var outcome: String?
        @Option(help: ArgumentHelp("Only records at or after this time (RFC 3339, e.g. 2026-12-01T20:00:00Z, or a date).", valueName: "time"))
        var since: String?
        @Option(help: ArgumentHelp("Only records before this time (RFC 3339 or a date).", valueName: "time"))
        var until: String?
        @Flag(help: "Only calls that did not succeed (an input_required step of a consented write is not a failure).") var failed = false
        @Flag(help: "Print the matching records as they are stored (JSON lines).") var json = false

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, AuditTime.normalized(value) == nil {
                    throw ValidationError("\(name) '\(value)' is not a time: use RFC 3339 (2026-12-01T20:00:00Z) or a date (2026-12-01)")
                }
            }
        }

        func run() throws {
            guard let records = AuditReader.records(path: file) else {
                print("cannot read \(file)")
                throw ExitCode(2)
            }
            let from = since.flatMap(AuditTime.normalized)
            let to = until.flatMap(AuditTime.normalized)
            for r in records {
                func field(_ k: String) -> String { r[k]?.stringValue ?? "" }
                let event = field("event")
                let time = AuditTime.normalized(field("time")) ?? field("time")
                if let from, time < from { continue }
                if let to, time >= to { continue }
                let callFilters = principal != nil || tenant != nil || plugin != nil || tool != nil || outcome != nil || failed
                if !event.isEmpty {
                    // Server and trail events (start, stop, torn_tail_recovered) match only unfiltered queries.
                    if callFilters { continue }
                } else {
                    if let principal, !field("principal").isExactly(principal) { continue }
                    if let tenant, !field("tenant").isExactly(tenant) { continue }
                    if let plugin, !field("plugin").isExactly(plugin) { continue }
                    if let tool, !field("tool").isExactly(tool) { continue }
                    if let outcome, !field("outcome").isExactly(outcome) { continue }
                    if failed && ["ok", "input_required"].contains(field("outcome")) { continue }
                }
                if json {
                    print(String(decoding: JSONValue.object(r).serialized(), as: UTF8.self))
                    continue
                }
                print(Self.line(r, event: event))
            }
        }

        static func line(_ r: JSONObject, event: String) -> String {
            func field(_ k: String) -> String { TerminalText.escaped(r[k]?.stringValue ?? "") }
            var line = "\(field("time")) #\(r["seq"]?.intValue ?? 0)"
            let pid = r["pid"]?.intValue.map { " pid \($0)" } ?? ""
            switch event {
            case "":
                break
            case "start":
                return line + " server start\(pid) (\(field("server")))"
            case "stop":
                return line + " server stop\(pid)"
            case "torn_tail_recovered":
                return line + " torn tail recovered\(pid): \(r["fragment_bytes"]?.intValue ?? 0) bytes set aside as \(field("fragment_file")) (sha256 \(field("fragment_sha256")))"
            default:
                return line + " \(TerminalText.escaped(event))\(pid)"
            }
            line += " \(field("principal"))@\(field("tenant")) \(field("tool"))"
            if !field("access").isEmpty { line += " (\(field("access")))" }
            if !field("consent").isEmpty { line += " consent=\(field("consent"))" }
            line += " → \(field("outcome"))"
            if !field("kind").isEmpty { line += " \(field("kind")): \(field("message"))" }
            if let ms = r["ms"]?.doubleValue { line += " [\(ms) ms]" }
            return line
        }
    }
}

/// Times as the audit trail writes them (RFC 3339 UTC with milliseconds),
/// in a form that compares as text.
enum AuditTime {
    /// "2026-12-01" → "2026-12-01T00:00:00.000Z"; "2026-12-01T20:41:07Z" → "…07.000Z"; nil when neither.
    static func normalized(_ text: String) -> String? {
        let u = Array(text.utf8)
        func digits(_ r: Range<Int>) -> Bool { r.upperBound <= u.count && r.allSatisfy { (48...57).contains(u[$0]) } }
        guard digits(0..<4), u.count >= 10, u[4] == 45, digits(5..<7), u[7] == 45, digits(8..<10) else { return nil }
        if u.count == 10 { return text + "T00:00:00.000Z" }
        guard u.count >= 20, u[10] == 84 || u[10] == 116, digits(11..<13), u[13] == 58, digits(14..<16), u[16] == 58,
              digits(17..<19) else { return nil }
        let head = String(decoding: u[0..<10], as: UTF8.self) + "T" + String(decoding: u[11..<19], as: UTF8.self)
        var fraction = "000"
        var i = 19
        if i < u.count, u[i] == 46 {
            i += 1
            let start = i
            while i < u.count, (48...57).contains(u[i]) { i += 1 }
            guard i > start else { return nil }
            fraction = String((String(decoding: u[start..<i], as: UTF8.self) + "000").prefix(3))
        }
        guard i == u.count - 1, u[i] == 90 || u[i] == 122 else { return nil }
        return head + "." + fraction + "Z"
    }
}

/// Caller-chosen text made safe for one terminal line.
enum TerminalText {
    /// Control characters (C0, DEL, C1), line and paragraph separators and
    /// bidirectional controls are shown as escapes; backslashes are doubled.
    static func escaped(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x061C, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
