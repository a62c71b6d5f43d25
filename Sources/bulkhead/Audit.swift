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
            abstract: "Check that no record was changed, removed or inserted (exit 1 if one was).")

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
            print("ok: \(verdict.records) records, the hash chain is intact")
        }
    }

    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the records that match, one line each (or as JSON lines).")

        @Argument(help: ArgumentHelp("The audit log.", valueName: "file"))
        var file: String

        @Option(help: "Only this principal.") var principal: String?
        @Option(help: "Only this tenant.") var tenant: String?
        @Option(help: "Only this plugin.") var plugin: String?
        @Option(help: "Only this tool, as served (<plugin>__<tool>).") var tool: String?
        @Option(help: "Only this outcome: ok, error, input_required, not_visible, unknown_tool.") var outcome: String?
        @Flag(help: "Only calls that did not succeed.") var failed = false
        @Flag(help: "Print the matching records as they are stored (JSON lines).") var json = false

        func run() throws {
            guard let records = AuditReader.records(path: file) else {
                print("cannot read \(file)")
                throw ExitCode(2)
            }
            for r in records {
                func field(_ k: String) -> String { r[k]?.stringValue ?? "" }
                if let principal, field("principal") != principal { continue }
                if let tenant, field("tenant") != tenant { continue }
                if let plugin, field("plugin") != plugin { continue }
                if let tool, field("tool") != tool { continue }
                if let outcome, field("outcome") != outcome { continue }
                if failed && field("outcome") == "ok" { continue }
                if json {
                    print(String(decoding: JSONValue.object(r).serialized(), as: UTF8.self))
                    continue
                }
                var line = "\(field("time")) #\(r["seq"]?.intValue ?? 0) \(field("principal"))@\(field("tenant")) \(field("tool"))"
                if !field("access").isEmpty { line += " (\(field("access")))" }
                if !field("consent").isEmpty { line += " consent=\(field("consent"))" }
                line += " → \(field("outcome"))"
                if !field("kind").isEmpty { line += " \(field("kind")): \(field("message"))" }
                if let ms = r["ms"]?.doubleValue { line += " [\(ms) ms]" }
                print(line)
            }
        }
    }
}
