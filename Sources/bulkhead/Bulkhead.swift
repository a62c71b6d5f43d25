import ArgumentParser

@main
struct Bulkhead: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "bulkhead",
        abstract: "One MCP endpoint in front of many narrow tool plugins.",
        discussion: """
            Bulkhead loads every plugin folder under a directory (a C library built
            against include/bulkhead/bulkhead.h, its manifest.toml, and the operator's
            policy.toml) and serves the union of their tools as one MCP server,
            each tool named <plugin>__<tool> (--tool-names dotted for <plugin>.<tool>).

              bulkhead serve --plugins ./plugins        serve over stdio
              bulkhead serve --http 127.0.0.1:8080 --config bulkhead.toml   serve Streamable HTTP
              bulkhead token new alice                  make an API token for a principal
              bulkhead check ./plugins/docs             check one plugin folder
              bulkhead check --config bulkhead.toml --plugins ./plugins   check a whole configuration
              bulkhead audit verify var/audit.jsonl     check the audit trail's hash chain
              bulkhead audit query var/audit.jsonl --failed   find calls without a transcript

            A plugin that cannot be loaded is refused with one line on stderr
            naming it and the reason; the others keep serving.
            """,
        version: version,
        subcommands: [Serve.self, Check.self, Audit.self, Token.self]
    )
}
